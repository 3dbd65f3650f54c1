#include "server/push/push_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/scram.hpp"
#include "protocol/text.hpp"

namespace hush {

namespace {

pugi::xml_node only_payload(const stanza& iq) {
    pugi::xml_node found;
    for (auto c : iq.element().children()) {
        if (c.type() == pugi::node_element) {
            found = c;
            break;
        }
    }
    return found;
}

bool same_registration(const push::enable_request& a, const jid& service, const std::string& node) {
    return a.service.equals_full(service) && a.node == node;
}

}  // namespace

push_service::push_service(storage::async_store& store, const push_config& options)
    : store_(store), options_(options) {}

std::vector<push::enable_request> push_service::parse_registrations(const std::string& document) {
    std::vector<push::enable_request> out;
    pugi::xml_document doc;
    if (document.empty() || !doc.load_string(document.c_str())) {
        return out;
    }
    for (auto e : doc.document_element().children("enable")) {
        if (auto r = push::parse_enable(e)) {
            out.push_back(std::move(*r));
        }
    }
    return out;
}

std::string push_service::serialize_registrations(const std::vector<push::enable_request>& registrations) {
    std::string out = "<registrations>";
    for (const auto& r : registrations) {
        out += "<enable xmlns='urn:xmpp:push:0' jid='" + xml_escape(r.service.full_string()) + "' node='" +
               xml_escape(r.node) + "'>" + r.publish_options + "</enable>";
    }
    return out + "</registrations>";
}

boost::asio::awaitable<std::optional<stanza>> push_service::handle(const stanza& iq, const jid& addressed) {
    const pugi::xml_node payload = only_payload(iq);
    if (payload.attribute("xmlns").value() != push::push_ns) {
        co_return std::nullopt;
    }
    const auto from = jid::parse(iq.from());
    if (!from || !from->equals_bare(addressed)) {
        co_return make_error_reply(iq, "forbidden");  // only the account's own resources
    }
    if (!options_.enabled) {
        co_return make_error_reply(iq, "service-unavailable");
    }
    const std::string_view name = payload.name();
    std::optional<push::enable_request> enable;
    std::optional<push::disable_request> disable;
    if (iq.type() != "set" || (name == "enable" ? !(enable = push::parse_enable(payload))
                                                : name != "disable" || !(disable = push::parse_disable(payload)))) {
        co_return make_error_reply(iq, "bad-request");
    }
    if (enable && enable->publish_options.size() > max_options_bytes) {
        co_return make_error_reply(iq, "not-acceptable", "publish-options too large");
    }
    // Read, change and write in one storage job: two resources enabling at once both count.
    struct outcome {
        bool full = false;
    };
    auto result = std::make_shared<outcome>();
    auto change = [d = addressed.domain(), u = addressed.node(), enable, disable, result,
                   max = options_.max_registrations](storage::store& s) -> storage::result<void> {
        auto stored = s.get_document(d, u, std::string(document_key));
        if (!stored) {
            return hush::unexpected(stored.error());
        }
        auto registrations = parse_registrations(stored->value_or(std::string()));
        if (enable) {
            std::erase_if(registrations, [&](const auto& r) { return same_registration(r, enable->service, enable->node); });
            if (registrations.size() >= max) {
                result->full = true;
                return {};
            }
            registrations.push_back(*enable);
        } else {
            std::erase_if(registrations, [&](const auto& r) {
                return r.service.equals_full(disable->service) && (!disable->node || r.node == *disable->node);
            });
        }
        if (registrations.empty()) {
            if (auto gone = s.delete_document(d, u, std::string(document_key)); !gone) {
                return hush::unexpected(gone.error());
            }
            return {};
        }
        return s.put_document(d, u, std::string(document_key), serialize_registrations(registrations));
    };
    if (auto stored = co_await store_.run(std::move(change)); !stored) {
        spdlog::error("push: cannot store the registrations of {}: {}", addressed.bare_string(), stored.error().message);
        co_return make_error_reply(iq, "internal-server-error", error_type::wait, "try again later");
    }
    if (result->full) {
        co_return make_error_reply(iq, "resource-constraint", error_type::wait,
                                   "at most " + std::to_string(options_.max_registrations) + " push registrations");
    }
    spdlog::info("push: {} {} {} node {}", addressed.bare_string(), enable ? "enabled" : "disabled",
                 enable ? enable->service.full_string() : disable->service.full_string(),
                 enable ? enable->node : disable->node.value_or("(all)"));
    co_return make_iq_result(iq);
}

bool push_service::worth_notifying(const stanza& message) {
    if (message.kind() != stanza_kind::message) {
        return false;
    }
    const std::string_view type = message.type();
    return type != "error" && type != "groupchat" && bool(message.element().child("body"));
}

boost::asio::awaitable<void> push_service::notify(const jid& account, const stanza& message, outgoing& out) {
    if (!options_.enabled || !worth_notifying(message)) {
        co_return;
    }
    auto read = [d = account.domain(), u = account.node()](storage::store& s) {
        return s.get_document(d, u, std::string(document_key));
    };
    auto stored = co_await store_.read(std::move(read));
    if (!stored) {
        spdlog::error("push: cannot read the registrations of {}: {}", account.bare_string(), stored.error().message);
        co_return;
    }
    if (!*stored) {
        co_return;
    }
    push::summary what;
    if (options_.include_sender) {
        if (auto sender = jid::parse(message.from())) {
            what.last_sender = sender->bare_string();
        }
    }
    if (options_.include_body) {
        what.last_body = truncate_utf8(message.element().child_value("body"), max_body_bytes);
    }
    for (const auto& registration : parse_registrations(**stored)) {
        out.route(push::notification(account.bare(), registration, what, "push-" + sasl::random_hex(8)));
    }
    spdlog::debug("push: notified the app server(s) of {}", account.bare_string());
}

}  // namespace hush
