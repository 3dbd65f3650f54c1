#include "server/im/account_services.hpp"
#include "protocol/xep0082.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <utility>

namespace hush {

namespace {

constexpr const char* vcard_key = "vcard";

struct string_writer final : pugi::xml_writer {
    std::string& out;
    explicit string_writer(std::string& target) : out(target) {}
    void write(const void* data, std::size_t size) override { out.append(static_cast<const char*>(data), size); }
};

std::string serialize(pugi::xml_node node) {
    std::string out;
    string_writer writer(out);
    node.print(writer, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    return out;
}

// Parses a stored document and appends a copy of its root under `parent`. Whitespace text is kept so a stored
// element comes back exactly as it was set; false when the stored text is not XML (never written by us).
bool append_document(pugi::xml_node parent, const std::string& xml) {
    pugi::xml_document doc;
    const unsigned options = (pugi::parse_default | pugi::parse_ws_pcdata) & ~pugi::parse_eol;
    if (!doc.load_buffer(xml.data(), xml.size(), options, pugi::encoding_utf8) || !doc.document_element()) {
        return false;
    }
    parent.append_copy(doc.document_element());
    return true;
}

pugi::xml_node append_namespaced(pugi::xml_node parent, const char* name, std::string_view element_ns) {
    auto node = parent.append_child(name);
    node.append_attribute("xmlns").set_value(std::string(element_ns).c_str());
    return node;
}

pugi::xml_node first_element(pugi::xml_node parent, std::size_t& count) {
    pugi::xml_node found;
    count = 0;
    for (auto c : parent.children()) {
        if (c.type() == pugi::node_element && count++ == 0) {
            found = c;
        }
    }
    return found;
}

// The namespace an element is in: its own xmlns, else the nearest ancestor's (the stream parser writes xmlns
// wherever the namespace changes, so this is exact for parsed stanzas).
std::string_view namespace_of(pugi::xml_node node) {
    for (; node && node.type() == pugi::node_element; node = node.parent()) {
        if (auto ns = node.attribute("xmlns")) {
            return ns.value();
        }
    }
    return "jabber:client";
}

// XEP-0049 §2.3: namespaces reserved in Jabber ('jabber:*', 'http://jabber.org/*', 'vcard-temp') must not be
// used as private storage (they have their own protocols, and jabber:client would be a stanza).
bool reserved_namespace(std::string_view ns) {
    return ns.starts_with("jabber:") || ns.starts_with("http://jabber.org/") || ns == account_services::vcard_ns;
}


stanza storage_failure(const stanza& iq, std::string_view what, const jid& account, const std::string& message) {
    spdlog::error("account services: {} for {} failed: {}", what, account.bare_string(), message);
    return make_error_reply(iq, "internal-server-error");
}

}  // namespace

account_services::account_services(storage::async_store& store, online_check is_online,
                                   presence_permission may_see_presence,
                                   std::chrono::steady_clock::time_point started)
    : store_(store),
      is_online_(std::move(is_online)),
      may_see_presence_(std::move(may_see_presence)),
      started_(started) {}

const std::vector<std::string>& account_services::features() {
    static const std::vector<std::string> list{std::string(last_ns), std::string(private_ns), std::string(vcard_ns)};
    return list;
}

boost::asio::awaitable<std::optional<stanza>> account_services::handle(const stanza& iq, const jid& addressed) {
    const std::string_view type = iq.type();
    if (iq.kind() != stanza_kind::iq || (type != "get" && type != "set")) {
        co_return std::nullopt;
    }
    std::size_t count = 0;
    const pugi::xml_node payload = first_element(iq.element(), count);
    const std::string_view payload_ns = payload.attribute("xmlns").value();
    const std::string_view name = payload.name();
    const bool is_vcard = name == "vCard" && payload_ns == vcard_ns;
    const bool is_private = name == "query" && payload_ns == private_ns;
    const bool is_last = name == "query" && payload_ns == last_ns;
    if (!is_vcard && !is_private && !is_last) {
        co_return std::nullopt;
    }
    if (is_last) {
        if (addressed.has_node()) {
            // XEP-0012 §3: an account's last activity only for those allowed to see its presence.
            const auto requester = jid::parse(iq.from());
            if (!requester || !may_see_presence_ || !co_await may_see_presence_(addressed.bare(), *requester)) {
                co_return make_error_reply(iq, "forbidden");
            }
        }
        stanza reply = co_await last_activity(iq, addressed);
        co_return reply;
    }
    // The session stamps a valid full JID; anything else cannot own anything.
    const std::optional<jid> requester = jid::parse(iq.from());
    if (!requester || !requester->has_node()) {
        co_return make_error_reply(iq, "forbidden");
    }
    if (is_vcard) {
        stanza reply = co_await vcard(iq, *requester, addressed, payload);
        co_return reply;
    }
    stanza reply = co_await private_storage(iq, *requester, addressed, payload);
    co_return reply;
}

boost::asio::awaitable<stanza> account_services::vcard(const stanza& iq, const jid& requester, const jid& addressed,
                                                       pugi::xml_node payload) {
    if (!addressed.has_node()) {
        co_return make_error_reply(iq, "service-unavailable");  // the server itself has no vCard
    }
    const jid owner = addressed.bare();
    if (iq.type() == "get") {
        auto query = [domain = owner.domain(), node = owner.node()](storage::store& s) {
            return s.get_document(domain, node, vcard_key);
        };
        auto found = co_await store_.read(std::move(query));
        if (!found) {
            co_return storage_failure(iq, "vCard lookup", owner, found.error().message);
        }
        stanza reply = make_iq_result(iq);
        if (!*found) {
            append_namespaced(reply.element(), "vCard", vcard_ns);  // none yet: an empty vCard, not an error
        } else if (!append_document(reply.element(), **found)) {
            co_return storage_failure(iq, "vCard parse", owner, "stored vCard is not XML");
        }
        co_return reply;
    }

    if (!requester.equals_bare(owner)) {
        co_return make_error_reply(iq, "forbidden");
    }
    std::string xml = serialize(payload);
    if (xml.size() > max_vcard_bytes) {
        // Without the payload: echoing 64 KiB back helps nobody.
        stanza bare_iq = iq.clone();
        bare_iq.element().remove_children();
        co_return make_error_reply(bare_iq, "not-acceptable", "the vCard is larger than 64 KiB");
    }
    auto store_it = [domain = owner.domain(), node = owner.node(), xml = std::move(xml)](storage::store& s) {
        return s.put_document(domain, node, vcard_key, xml);
    };
    auto stored = co_await store_.run(std::move(store_it));
    if (!stored) {
        co_return storage_failure(iq, "vCard update", owner, stored.error().message);
    }
    co_return make_iq_result(iq);
}

boost::asio::awaitable<stanza> account_services::private_storage(const stanza& iq, const jid& requester,
                                                                 const jid& addressed, pugi::xml_node payload) {
    // XEP-0049: only the owner, never another user (nor the server's domain).
    if (!addressed.has_node() || !requester.equals_bare(addressed)) {
        co_return make_error_reply(iq, "forbidden");
    }
    std::size_t count = 0;
    const pugi::xml_node item = first_element(payload, count);
    if (count == 0) {
        co_return make_error_reply(iq, "not-acceptable", "the query must hold the element to get or set");
    }
    if (count > 1) {
        co_return make_error_reply(iq, "bad-request", "one element per request");
    }
    const std::string item_ns(namespace_of(item));
    if (item_ns.empty() || reserved_namespace(item_ns)) {
        co_return make_error_reply(iq, "not-acceptable", "this namespace cannot be stored privately");
    }
    const jid owner = addressed.bare();
    std::string key = "private:" + std::string(item.name()) + " " + item_ns;

    if (iq.type() == "get") {
        auto query = [domain = owner.domain(), node = owner.node(), key = std::move(key)](storage::store& s) {
            return s.get_document(domain, node, key);
        };
        auto found = co_await store_.read(std::move(query));
        if (!found) {
            co_return storage_failure(iq, "private XML lookup", owner, found.error().message);
        }
        stanza reply = make_iq_result(iq);
        auto q = append_namespaced(reply.element(), "query", private_ns);
        if (!*found) {
            append_namespaced(q, item.name(), item_ns);  // nothing stored: the empty element back, not an error
        } else if (!append_document(q, **found)) {
            co_return storage_failure(iq, "private XML parse", owner, "stored element is not XML");
        }
        co_return reply;
    }

    // The element keeps its own xmlns so it is self-contained when read back.
    pugi::xml_document copy;
    auto stored_item = copy.append_copy(item);
    if (!stored_item.attribute("xmlns")) {
        stored_item.append_attribute("xmlns").set_value(item_ns.c_str());
    }
    auto store_it = [domain = owner.domain(), node = owner.node(), key = std::move(key),
                     xml = serialize(stored_item)](storage::store& s) {
        return s.put_document(domain, node, key, xml);
    };
    auto stored = co_await store_.run(std::move(store_it));
    if (!stored) {
        co_return storage_failure(iq, "private XML update", owner, stored.error().message);
    }
    co_return make_iq_result(iq);
}

boost::asio::awaitable<stanza> account_services::last_activity(const stanza& iq, const jid& addressed) {
    if (iq.type() != "get") {
        co_return make_error_reply(iq, "service-unavailable");  // as server_handlers answers a set it has no use for
    }
    std::int64_t seconds = 0;
    std::string status;
    if (!addressed.has_node()) {
        // XEP-0012 §5: to a server, its uptime.
        seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
    } else if (!(is_online_ && is_online_(addressed.bare()))) {
        // XEP-0012 §3: an online account answers 0; an offline one the time since it logged out, and its status.
        const jid owner = addressed.bare();
        auto query = [domain = owner.domain(), node = owner.node()](storage::store& s) {
            return s.get_last_activity(domain, node);
        };
        auto found = co_await store_.read(std::move(query));
        if (!found) {
            co_return storage_failure(iq, "last activity lookup", owner, found.error().message);
        }
        if (!*found) {
            co_return make_error_reply(iq, "item-not-found");  // never logged out since it was created
        }
        seconds = unix_now() - (*found)->logout_at;
        status = std::move((*found)->status);
    }
    stanza reply = make_iq_result(iq);
    auto q = append_namespaced(reply.element(), "query", last_ns);
    q.append_attribute("seconds").set_value(std::to_string(std::max<std::int64_t>(seconds, 0)).c_str());
    if (!status.empty()) {
        q.append_child(pugi::node_pcdata).set_value(status.c_str());
    }
    co_return reply;
}

}  // namespace hush
