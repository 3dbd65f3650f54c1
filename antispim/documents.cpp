#include "antispim/documents.hpp"

#include <openssl/sha.h>

#include <algorithm>
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

// A held document from before schema 6: <held><item at='…'>xml</item>…</held>.
std::vector<held_stanza> parse_legacy_held(const std::string& xml) {
    std::vector<held_stanza> out;
    pugi::xml_document doc;
    doc.load_string(xml.c_str());
    for (auto item : doc.child("held").children("item")) {
        out.push_back({item.attribute("at").as_llong(), item.child_value()});
    }
    return out;
}

// Moves the sender's held document from before schema 6, if any, into the held_stanzas table (uncapped: it was
// within the caps of its day). Inside the caller's atomically. Only needed while such documents can exist: they
// are swept held_expiry after the migration at the latest.
storage::result<void> import_legacy_held(storage::store& s, const std::string& domain, const std::string& user,
                                         const std::string& sender_bare) {
    auto found = s.get_document(domain, user, held_key(sender_bare));
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    if (!*found) {
        return {};
    }
    const storage::held_limits uncapped{0, 0, 0, 0, 0};
    for (const auto& h : parse_legacy_held(**found)) {
        if (auto held = s.add_held_stanza(domain, user, sender_bare, h.xml, h.at, uncapped); !held) {
            return hush::unexpected<storage::error>(held.error());
        }
    }
    if (auto deleted = s.delete_document(domain, user, held_key(sender_bare)); !deleted) {
        return hush::unexpected<storage::error>(deleted.error());
    }
    return {};
}

// import_legacy_held in a transaction of its own, only when there is something to import (nearly never).
storage::result<void> import_legacy_held_if_any(storage::store& s, const std::string& domain, const std::string& user,
                                                const std::string& sender_bare) {
    auto found = s.get_document(domain, user, held_key(sender_bare));
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    if (!*found) {
        return {};
    }
    return s.atomically(domain, user, [&] { return import_legacy_held(s, domain, user, sender_bare); });
}

// The first instant that is not expired: a stanza held at `at` is kept while now - at < expiry.
std::int64_t unexpired_from(std::int64_t now, std::int64_t expiry_seconds) {
    return now - expiry_seconds + 1;
}

}  // namespace

std::string state_key(const std::string& sender_bare) { return "antispim:state:" + sender_bare; }
std::string held_key(const std::string& sender_bare) { return std::string(held_prefix) + sender_bare; }
std::string contact_key(const std::string& contact_bare) { return "antispim:contact:" + contact_bare; }

namespace {

challenge_key parse_key(const std::string& xml) {
    pugi::xml_document doc;
    doc.load_string(xml.c_str());
    challenge_key key;
    key.key = doc.child("key").child_value();
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(key.key.data()), key.key.size(), digest);
    key.id = sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), 6));
    return key;
}

}  // namespace

storage::result<challenge_key> get_key(storage::store& s, const std::string& domain, const std::string& user) {
    auto found = s.get_document(domain, user, key_key);
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    if (*found) {
        return parse_key(**found);
    }
    // The first stranger for this user: making the key changes nothing a sender sees.
    std::string xml = new_key_document();
    if (auto stored = s.put_document(domain, user, key_key, xml); !stored) {
        return hush::unexpected<storage::error>(stored.error());
    }
    return parse_key(xml);
}

storage::result<challenge_key> peek_key(storage::store& s, const std::string& domain, const std::string& user) {
    auto found = s.get_document(domain, user, key_key);
    if (!found) {
        return hush::unexpected<storage::error>(found.error());
    }
    return parse_key(*found ? **found : new_key_document());
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

storage::result<storage::hold_outcome> add_held(storage::store& s, const std::string& domain, const std::string& user,
                                                const std::string& sender_bare, const std::string& xml,
                                                std::int64_t now, std::int64_t expiry_seconds,
                                                const storage::held_limits& limits) {
    storage::held_limits effective = limits;
    effective.expire_before = unexpired_from(now, expiry_seconds);
    if (auto imported = import_legacy_held_if_any(s, domain, user, sender_bare); !imported) {
        return hush::unexpected<storage::error>(imported.error());
    }
    return s.add_held_stanza(domain, user, sender_bare, xml, now, effective);
}

storage::result<std::vector<held_stanza>> take_held(storage::store& s, const std::string& domain,
                                                    const std::string& user, const std::string& sender_bare,
                                                    std::int64_t now, std::int64_t expiry_seconds) {
    if (auto imported = import_legacy_held_if_any(s, domain, user, sender_bare); !imported) {
        return hush::unexpected<storage::error>(imported.error());
    }
    auto taken = s.take_held_stanzas(domain, user, sender_bare);
    if (!taken) {
        return hush::unexpected<storage::error>(taken.error());
    }
    const auto from = unexpired_from(now, expiry_seconds);
    std::vector<held_stanza> out;
    for (auto& h : *taken) {
        if (h.held_at >= from) {
            out.push_back({h.held_at, std::move(h.xml)});
        }
    }
    return out;
}

storage::result<std::vector<message_request>> list_requests(storage::store& s, const std::string& domain,
                                                            const std::string& user, std::int64_t now,
                                                            std::int64_t expiry_seconds) {
    auto legacy = s.document_keys(domain, user, std::string(held_prefix));
    if (!legacy) {
        return hush::unexpected<storage::error>(legacy.error());
    }
    for (const auto& key : *legacy) {
        if (auto imported = import_legacy_held_if_any(s, domain, user, key.substr(held_prefix.size())); !imported) {
            return hush::unexpected<storage::error>(imported.error());
        }
    }
    auto listed = s.list_held_stanzas(domain, user);
    if (!listed) {
        return hush::unexpected<storage::error>(listed.error());
    }
    const auto from = unexpired_from(now, expiry_seconds);
    std::vector<message_request> out;
    for (auto& h : *listed) {  // by sender, oldest first
        if (h.held_at < from) {
            continue;
        }
        if (out.empty() || out.back().sender != h.sender) {
            out.push_back({h.sender, {}});
        }
        out.back().held.push_back({h.held_at, std::move(h.xml)});
    }
    return out;
}

storage::result<std::int64_t> count_requests(storage::store& s) {
    auto totals = s.count_held();
    if (!totals) {
        return hush::unexpected<storage::error>(totals.error());
    }
    return totals->requests;
}

storage::result<void> note_contact(storage::store& s, const std::string& domain, const std::string& user,
                                   const std::string& contact_bare) {
    return s.put_document(domain, user, contact_key(contact_bare), "<contact/>");
}

storage::result<sweep_counts> sweep(storage::store& s, std::int64_t now, std::int64_t held_expiry,
                                    std::int64_t state_expiry, std::int64_t contact_expiry, std::size_t budget,
                                    std::size_t batch) {
    sweep_counts counts;
    batch = std::max<std::size_t>(1, std::min(batch, budget));
    // Deletes in statements of `batch` rows (short locks) until done or `budget` rows went.
    auto drain = [&](auto delete_batch, std::int64_t& count) -> storage::result<void> {
        while (static_cast<std::size_t>(count) < budget) {
            const auto n = std::min(batch, budget - static_cast<std::size_t>(count));
            auto deleted = delete_batch(n);
            if (!deleted) {
                return hush::unexpected<storage::error>(deleted.error());
            }
            count += *deleted;
            if (static_cast<std::size_t>(*deleted) < n) {
                return {};
            }
        }
        counts.more = true;
        return {};
    };
    auto documents = [&](const char* prefix, std::int64_t expiry, std::int64_t& count) -> storage::result<void> {
        if (expiry <= 0) {
            return {};
        }
        return drain([&](std::size_t n) { return s.delete_documents_older_than(prefix, now - expiry, n); }, count);
    };
    if (held_expiry > 0) {
        const auto from = unexpired_from(now, held_expiry);
        if (auto done = drain([&](std::size_t n) { return s.delete_held_before(from, n); }, counts.held); !done) {
            return hush::unexpected<storage::error>(done.error());
        }
    }
    if (auto done = documents("antispim:held:", held_expiry, counts.legacy_held); !done) {
        return hush::unexpected<storage::error>(done.error());
    }
    if (auto done = documents("antispim:state:", state_expiry, counts.states); !done) {
        return hush::unexpected<storage::error>(done.error());
    }
    if (auto done = documents("antispim:contact:", contact_expiry, counts.contacts); !done) {
        return hush::unexpected<storage::error>(done.error());
    }
    return counts;
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
