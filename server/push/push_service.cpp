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

// Inside the caller's storage::atomically: the document, or none when nothing is left.
storage::result<void> store_registrations(storage::store& s, const std::string& d, const std::string& u,
                                          const std::vector<push::enable_request>& registrations) {
    if (registrations.empty()) {
        if (auto gone = s.delete_document(d, u, std::string(push_service::document_key)); !gone) {
            return hush::unexpected(gone.error());
        }
        return {};
    }
    return s.put_document(d, u, std::string(push_service::document_key),
                          push_service::serialize_registrations(registrations));
}

}  // namespace

push_service::push_service(storage::async_store& store, const push_config& options,
                           std::vector<std::string> local_hosts)
    : store_(store), options_(options), local_hosts_(std::move(local_hosts)) {}

std::string push_service::unacceptable(const push::enable_request& enable) const {
    // An app server is a service (push.example.net), never a person: notifications are iq sets the server sends
    // on the account's behalf, past the outbound guard and the receiver's anti-SPIM, so they must not reach
    // anyone's account.
    if (enable.service.has_node()) {
        return "a push service is a service's address without a user part, such as push.example.net";
    }
    if (std::find(local_hosts_.begin(), local_hosts_.end(), enable.service.domain()) != local_hosts_.end()) {
        return "this server is no push service";  // nor is any account of it
    }
    if (enable.node.size() > max_node_bytes) {
        return "node too long";
    }
    if (enable.publish_options.size() > max_options_bytes) {
        return "publish-options too large";
    }
    return {};
}

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
        // Only the account's own resources; anyone else gets what a missing account gives (no enumeration).
        co_return make_error_reply(iq, "service-unavailable");
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
    if (enable) {
        if (const std::string why = unacceptable(*enable); !why.empty()) {
            co_return make_error_reply(iq, "not-acceptable", why);
        }
    }
    // Read, change and write under the account's row lock (storage::atomically): PostgreSQL runs jobs in
    // parallel, and two resources enabling at once must both count against the cap and neither be lost.
    struct outcome {
        bool full = false;
    };
    auto result = std::make_shared<outcome>();
    auto change = [d = addressed.domain(), u = addressed.node(), enable, disable, result,
                   max = options_.max_registrations](storage::store& s) -> storage::result<void> {
        return storage::atomically(s, d, u, [&]() -> storage::result<void> {
            auto stored = s.get_document(d, u, std::string(document_key));
            if (!stored) {
                return hush::unexpected(stored.error());
            }
            auto registrations = parse_registrations(stored->value_or(std::string()));
            if (enable) {
                std::erase_if(registrations,
                              [&](const auto& r) { return same_registration(r, enable->service, enable->node); });
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
            return store_registrations(s, d, u, registrations);
        });
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
    std::size_t sent = 0;
    std::size_t held_back = 0;
    for (const auto& registration : parse_registrations(**stored)) {
        if (!unacceptable(registration).empty()) {
            continue;  // stored before app servers had to be services: never notified
        }
        std::string id = "push-" + sasl::random_hex(8);
        if (!claim(account, registration, id)) {
            ++held_back;  // the previous notification is still unanswered: the phone is already being woken
            continue;
        }
        out.route(push::notification(account.bare(), registration, what, std::move(id)));
        ++sent;
    }
    spdlog::debug("push: notified {} app server(s) of {}, {} still unanswered", sent, account.bare_string(),
                  held_back);
}

bool push_service::claim(const jid& account, const push::enable_request& registration, const std::string& id) {
    const clock::time_point now = now_();
    key k{account.bare_string(), registration.service.full_string(), registration.node};
    std::lock_guard lock(mutex_);
    if (auto it = outstanding_.find(k); it != outstanding_.end()) {
        if (now - it->second.sent < answer_timeout) {
            return false;
        }
        by_id_.erase(it->second.id);  // unanswered for too long: this one replaces it
        outstanding_.erase(it);
    }
    if (outstanding_.size() >= max_outstanding) {
        std::erase_if(outstanding_, [&](const auto& entry) {
            if (now - entry.second.sent < answer_timeout) {
                return false;
            }
            by_id_.erase(entry.second.id);
            return true;
        });
        if (outstanding_.size() >= max_outstanding) {
            spdlog::warn("push: {} notifications awaiting an answer; {} not notified", outstanding_.size(),
                         account.bare_string());
            return false;
        }
    }
    // One account holds at most max_registrations entries, whatever it enabled and disabled since: its oldest goes
    // (the map orders an account's entries together), so no account can fill the server's map.
    const std::string& bare = std::get<0>(k);
    for (;;) {
        auto first = outstanding_.lower_bound(key{bare, {}, {}});
        auto oldest = outstanding_.end();
        std::size_t mine = 0;
        for (auto it = first; it != outstanding_.end() && std::get<0>(it->first) == bare; ++it) {
            ++mine;
            if (oldest == outstanding_.end() || it->second.sent < oldest->second.sent) {
                oldest = it;
            }
        }
        if (mine < options_.max_registrations) {
            break;
        }
        by_id_.erase(oldest->second.id);
        outstanding_.erase(oldest);
    }
    outstanding_.emplace(k, pending{id, now});
    by_id_.emplace(id, std::move(k));
    return true;
}

std::optional<push_answer> push_service::take_answer(const stanza& iq, const jid& from, const jid& to) {
    if (iq.kind() != stanza_kind::iq || (iq.type() != "result" && iq.type() != "error")) {
        return std::nullopt;
    }
    push_answer answer;
    {
        std::lock_guard lock(mutex_);
        auto id = by_id_.find(std::string(iq.id()));
        if (id == by_id_.end()) {
            return std::nullopt;
        }
        const auto& [account, service, node] = id->second;
        auto service_jid = jid::parse(service);
        // Only the app server it went to, answering for the account it came from.
        if (account != to.bare_string() || !service_jid || !service_jid->equals_bare(from)) {
            return std::nullopt;
        }
        answer.account = to.bare();
        answer.service = *service_jid;
        answer.node = node;
        outstanding_.erase(id->second);
        by_id_.erase(id);
    }
    answer.kind = push::answer_of(iq);
    return answer;
}

boost::asio::awaitable<void> push_service::answered(const push_answer& answer) {
    spdlog::debug("push: {} answered the notification of {} on node {}{}", answer.service.full_string(),
                  answer.account.bare_string(), answer.node,
                  answer.kind == push::answer_kind::accepted ? "" : " with an error");
    if (answer.kind != push::answer_kind::gone) {
        co_return;  // accepted, or try later: the next message notifies again
    }
    // XEP-0357 §8: the app server says the registration is gone; so it is here.
    auto remove = [d = answer.account.domain(), u = answer.account.node(), service = answer.service,
                   node = answer.node](storage::store& s) -> storage::result<void> {
        return storage::atomically(s, d, u, [&]() -> storage::result<void> {
            auto stored = s.get_document(d, u, std::string(document_key));
            if (!stored) {
                return hush::unexpected(stored.error());
            }
            if (!*stored) {
                return {};
            }
            auto registrations = parse_registrations(**stored);
            const std::size_t before = registrations.size();
            std::erase_if(registrations, [&](const auto& r) { return same_registration(r, service, node); });
            if (registrations.size() == before) {
                return {};  // disabled meanwhile
            }
            return store_registrations(s, d, u, registrations);
        });
    };
    if (auto removed = co_await store_.run(std::move(remove)); !removed) {
        spdlog::error("push: cannot disable the registration of {} with {}: {}", answer.account.bare_string(),
                      answer.service.full_string(), removed.error().message);
        co_return;
    }
    spdlog::info("push: {} disabled {} node {}: the app server answered with an error", answer.account.bare_string(),
                 answer.service.full_string(), answer.node);
}

std::size_t push_service::outstanding() const {
    std::lock_guard lock(mutex_);
    return outstanding_.size();
}

}  // namespace hush
