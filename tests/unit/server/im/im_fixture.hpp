#pragma once
// What the IM service tests (presence, privacy, im_core) share: a real SQLite store holding the account
// alice@example.org, a real session registry whose sessions record what they are given, and `run`, which carries
// out what a service returned as the router would: routed stanzas are kept in `sink.sent`, stanzas for a resource
// reach its recording session. The services themselves are built by each test file.
#include <doctest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "server/im/accounts.hpp"
#include "server/im/im_context.hpp"
#include "tests/unit/test_support.hpp"
#include "tests/unit/recording.hpp"

namespace hush::im_testing {

using test::run_sync;
using test::recording_session;

// Two of alice's resources.
constexpr std::string_view phone = "alice@example.org/phone";
constexpr std::string_view desk = "alice@example.org/desk";

inline jid parse_jid(std::string_view text) {
    auto j = jid::parse(text);
    REQUIRE(j);
    return *j;
}

inline stanza parse(std::string_view xml) {
    stanza s = stanza::parse(xml);
    REQUIRE(s.valid());
    return s;
}

// The stanzas named `name` with type `type` ("" = no type attribute).
inline std::vector<stanza> of_type(const std::vector<stanza>& all, std::string_view name, std::string_view type) {
    std::vector<stanza> out;
    for (const auto& s : all) {
        if (s.name() == name && s.type() == type) {
            out.push_back(s);
        }
    }
    return out;
}

// The roster pushes among `all` (iq set with a jabber:iq:roster query).
inline std::vector<stanza> roster_pushes(const std::vector<stanza>& all) {
    std::vector<stanza> out;
    for (const auto& s : of_type(all, "iq", "set")) {
        if (s.child("query", "jabber:iq:roster")) {
            out.push_back(s);
        }
    }
    return out;
}

// The stanzas among `all` addressed from `from` to `to`.
inline std::vector<stanza> between(const std::vector<stanza>& all, std::string_view from, std::string_view to) {
    std::vector<stanza> out;
    for (const auto& s : all) {
        if (s.from() == from && s.to() == to) {
            out.push_back(s);
        }
    }
    return out;
}

struct im_world {
    im_world() : store(test::sqlite_options(dir.path())), ctx{store, registry} { add_account("alice"); }

    // Runs a service call (given `out`) to the end, then carries out what it returned.
    template <class T>
    T run(boost::asio::awaitable<T> work) {
        if constexpr (std::is_void_v<T>) {
            run_sync(std::move(work));
            carry();
        } else {
            T result = run_sync(std::move(work));
            carry();
            return result;
        }
    }

    void carry() {
        for (auto& o : out.take()) {
            if (o.path != outgoing_path::resource) {
                sink.sent.push_back(std::move(o.content));
            } else if (auto target = registry.find(o.resource)) {
                target->deliver(share(o.content.serialize()));
            }
        }
    }

    void add_account(const std::string& node) {
        auto creds = accounts::make_credentials("secret-password", 4096);
        REQUIRE(creds);
        auto created = run_sync(store.run([node, creds = *creds](storage::store& s) {
            return s.create_account("example.org", node, creds);
        }));
        REQUIRE(created);
        REQUIRE(*created);
    }

    // Binds a session for `full`; `interested`: it asked for the roster.
    std::shared_ptr<recording_session> bind(std::string_view full, bool interested = false) {
        auto session = std::make_shared<recording_session>();
        const jid j = parse_jid(full);
        registry.bind(j, session);
        registry.set_interested(j, interested);
        sessions[std::string(full)] = session;
        return session;
    }

    // Marks a bound resource available with `presence` as its last broadcast presence (no broadcast).
    void set_available(std::string_view full, std::string_view presence_xml = "<presence/>") {
        const jid j = parse_jid(full);
        stanza p = parse(presence_xml);
        p.set_attribute("from", j.full_string());
        registry.set_presence(j, true, 0, share(p.serialize()));
    }

    void unbind(std::string_view full) {
        auto it = sessions.find(std::string(full));
        REQUIRE(it != sessions.end());
        registry.unbind(parse_jid(full), it->second.get());
    }

    std::vector<storage::subscription_request> requests(const std::string& node = "alice") {
        auto found = run_sync(store.run([node](storage::store& s) {
            return s.get_subscription_requests("example.org", node);
        }));
        REQUIRE(found);
        return *found;
    }

    std::vector<storage::offline_message> offline(const std::string& node = "alice") {
        auto found = run_sync(store.run([node](storage::store& s) {
            return s.get_offline_messages("example.org", node);
        }));
        REQUIRE(found);
        return *found;
    }

    void clear() {
        sink.sent.clear();
        for (auto& [name, session] : sessions) {
            session->delivered.clear();
        }
    }

    test::temp_dir dir;
    storage::async_store store;
    session_registry registry;
    test::recording_sink sink;  // what was routed
    im_context ctx;
    outgoing out;
    std::map<std::string, std::shared_ptr<recording_session>> sessions;
};

}  // namespace hush::im_testing
