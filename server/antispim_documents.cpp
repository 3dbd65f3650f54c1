#include "server/antispim_documents.hpp"

#include <openssl/sha.h>

#include <sstream>

#include "protocol/scram.hpp"

namespace hush::antispim_documents {

namespace {

constexpr const char* settings_key = "antispim:settings";
constexpr const char* key_key = "antispim:key";
constexpr std::string_view held_prefix = "antispim:held:";


std::string new_key_document() { return "<key>" + sasl::random_hex(32) + "</key>"; }

std::string to_xml(const pugi::xml_node& node) {
    std::ostringstream out;
    node.print(out, "", pugi::format_raw);
    return out.str();
}

std::vector<held_stanza> parse_held(const std::optional<std::string>& xml, std::int64_t now, std::int64_t expiry) {
    std::vector<held_stanza> out;
    if (!xml) {
        return out;
    }
    pugi::xml_document doc;
    doc.load_string(xml->c_str());
    for (auto item : doc.child("held").children("item")) {
        held_stanza h{item.attribute("at").as_llong(), item.child_value()};
        if (now - h.at < expiry) {
            out.push_back(std::move(h));
        }
    }
    return out;
}

std::string serialize_held(const std::vector<held_stanza>& items) {
    pugi::xml_document doc;
    auto held = doc.append_child("held");
    for (const auto& h : items) {
        auto item = held.append_child("item");
        item.append_attribute("at").set_value(static_cast<long long>(h.at));
        item.append_child(pugi::node_pcdata).set_value(h.xml.c_str());
    }
    return to_xml(held);
}

}  // namespace

std::string state_key(const std::string& sender_bare) { return "antispim:state:" + sender_bare; }
std::string held_key(const std::string& sender_bare) { return std::string(held_prefix) + sender_bare; }
std::string contact_key(const std::string& contact_bare) { return "antispim:contact:" + contact_bare; }

storage::result<challenge_key> get_key(storage::store& s, const std::string& domain, const std::string& user) {
    auto found = s.get_document(domain, user, key_key);
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    std::string xml;
    if (*found) {
        xml = **found;
    } else {
        // The first stranger for this user: making the key changes nothing a sender sees.
        xml = new_key_document();
        if (auto stored = s.put_document(domain, user, key_key, xml); !stored) {
            return hush::unexpected<storage::error>(stored.error());
        }
    }
    pugi::xml_document doc;
    doc.load_string(xml.c_str());
    challenge_key key;
    key.key = doc.child("key").child_value();
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(key.key.data()), key.key.size(), digest);
    key.id = sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), 6));
    return key;
}

storage::result<void> rotate_key(storage::store& s, const std::string& domain, const std::string& user) {
    return s.put_document(domain, user, key_key, new_key_document());
}

storage::result<std::optional<antispim::challenge_settings>> get_settings(storage::store& s, const std::string& domain,
                                                                         const std::string& user) {
    auto found = s.get_document(domain, user, settings_key);
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    std::optional<antispim::challenge_settings> out;
    if (*found) {
        pugi::xml_document doc;
        if (doc.load_string((*found)->c_str())) {
            if (auto parsed = antispim::parse_challenge_settings(doc.first_child())) {
                out = std::move(*parsed);
            }
        }
    }
    return out;
}

storage::result<void> put_settings(storage::store& s, const std::string& domain, const std::string& user,
                                   const antispim::challenge_settings& settings) {
    pugi::xml_document doc;
    antispim::append_challenge_settings(doc, settings);
    return s.put_document(domain, user, settings_key, to_xml(doc.first_child()));
}

storage::result<antispim::sender_state> get_state(storage::store& s, const std::string& domain, const std::string& user,
                                                  const std::string& sender_bare) {
    auto found = s.get_document(domain, user, state_key(sender_bare));
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    if (!*found) {
        return antispim::sender_state{};
    }
    auto parsed = antispim::parse_sender_state(**found);
    return parsed ? storage::result<antispim::sender_state>(std::move(*parsed)) : antispim::sender_state{};
}

storage::result<void> put_state(storage::store& s, const std::string& domain, const std::string& user,
                                const std::string& sender_bare, const antispim::sender_state& state) {
    return s.put_document(domain, user, state_key(sender_bare), antispim::serialize_sender_state(state));
}

storage::result<bool> add_held(storage::store& s, const std::string& domain, const std::string& user,
                               const std::string& sender_bare, const std::string& xml, std::int64_t now,
                               std::int64_t expiry_seconds, std::size_t max_held) {
    auto found = s.get_document(domain, user, held_key(sender_bare));
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    auto items = parse_held(*found, now, expiry_seconds);
    if (items.size() >= max_held) {
        return false;
    }
    items.push_back({now, xml});
    if (auto stored = s.put_document(domain, user, held_key(sender_bare), serialize_held(items)); !stored) {
        return hush::unexpected<storage::error>(stored.error());
    }
    return true;
}

storage::result<std::vector<held_stanza>> take_held(storage::store& s, const std::string& domain,
                                                    const std::string& user, const std::string& sender_bare,
                                                    std::int64_t now, std::int64_t expiry_seconds) {
    auto found = s.get_document(domain, user, held_key(sender_bare));
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    auto items = parse_held(*found, now, expiry_seconds);
    if (*found) {
        if (auto deleted = s.delete_document(domain, user, held_key(sender_bare)); !deleted) {
            return hush::unexpected<storage::error>(deleted.error());
        }
    }
    return items;
}

storage::result<std::vector<message_request>> list_requests(storage::store& s, const std::string& domain,
                                                            const std::string& user, std::int64_t now,
                                                            std::int64_t expiry_seconds) {
    auto keys = s.document_keys(domain, user, std::string(held_prefix));
    if (!keys) {
        return hush::unexpected<storage::error>(keys.error());
    }
    std::vector<message_request> out;
    for (const auto& key : *keys) {
        auto found = s.get_document(domain, user, key);
        if (!found) {
            return hush::unexpected<storage::error>(found.error());
        }
        auto items = parse_held(*found, now, expiry_seconds);
        if (!items.empty()) {
            out.push_back({key.substr(held_prefix.size()), std::move(items)});
        }
    }
    return out;
}

storage::result<void> approve(storage::store& s, const std::string& domain, const std::string& user,
                              const std::string& sender_bare) {
    auto key = get_key(s, domain, user);
    if (!key) {
        return hush::unexpected<storage::error>(key.error());
    }
    antispim::sender_state state;
    state.approved_key = key->id;
    return put_state(s, domain, user, sender_bare, state);
}

}  // namespace hush::antispim_documents
