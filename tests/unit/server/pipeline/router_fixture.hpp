#pragma once
// Fakes and helpers for the router's unit tests (router_delivery_test.cpp, router_antispim_test.cpp): sessions that
// record the bytes they are given (parsed back to assert on), an account directory, a stranger oracle, and a
// one-policy chain with a fixed verdict. The iq handler is the real one.
#include <doctest.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <pugixml.hpp>

#include "antispim/chain.hpp"
#include "protocol/namespaces.hpp"
#include "server/pipeline/router.hpp"
#include "server/im/server_handlers.hpp"
#include "server/stream/session_registry.hpp"

namespace hush::router_testing {

constexpr std::string_view domain = "example.org";
constexpr std::string_view alice = "alice@example.org/phone";

// Records every delivery; the router's only view of a client.
class fake_session final : public session {
public:
    void deliver(shared_bytes serialized) override { delivered.push_back(std::move(serialized)); }
    void close(stream_error error) override { closed.push_back(std::move(error)); }

    std::vector<shared_bytes> delivered;
    std::vector<stream_error> closed;
};

// The set of existing bare JIDs, or a storage failure.
class fake_directory final : public account_directory {
public:
    boost::asio::awaitable<hush::expected<bool, std::string>> exists(const jid& bare) override {
        ++lookups;
        if (failing) {
            co_return hush::unexpected(std::string("database unreachable"));
        }
        const bool found = accounts.contains(bare.bare_string());
        co_return found;
    }

    std::set<std::string> accounts;
    bool failing = false;
    int lookups = 0;
};

// What every sender is to every receiver (a contact unless a test says otherwise); existence comes from the
// directory, as the real oracle reads it in the same storage operation.
class fake_oracle final : public stranger_oracle {
public:
    explicit fake_oracle(fake_directory& directory) : directory_(directory) {}
    boost::asio::awaitable<bool> stranger_to_user(const jid&, const jid& to, const companion_read&,
                                                  relation_ahead*) override {
        co_return !is_contact(to);
    }
    boost::asio::awaitable<hush::expected<relation_facts, std::string>> relation(const jid& receiver, const jid& sender,
                                                                                bool check_exists) override {
        relation_facts f = base;
        f.contact = is_contact(sender);
        if (check_exists) {
            auto found = co_await directory_.exists(receiver);
            if (!found) {
                co_return hush::unexpected(found.error());
            }
            f.account_exists = *found;
        }
        co_return f;
    }
    boost::asio::awaitable<void> outbound(const stanza&, const jid&, const jid&, antispim::contact_note*) override {
        co_return;
    }
    boost::asio::awaitable<void> store_note(antispim::contact_note&) override { co_return; }

    bool is_contact(const jid& sender) const { return !strangers.contains(sender.bare_string()) && base.contact; }

    relation_facts base{.contact = true};
    std::set<std::string> strangers;

private:
    fake_directory& directory_;
};

// What the chain was asked about.
struct policy_log {
    int calls = 0;
    std::string sender;
    std::string receiver;
    stanza_kind kind = stanza_kind::other;
    bool subscription_request = false;
    antispim::origin_kind origin = antispim::origin_kind::remote_domain;
    std::string origin_domain;
    std::string peer_address;
};

class fixed_policy final : public antispim::policy {
public:
    fixed_policy(antispim::verdict v, policy_log* log) : verdict_(std::move(v)), log_(log) {}
    std::string_view name() const override { return "fixed"; }
    boost::asio::awaitable<hush::expected<antispim::verdict, antispim::policy_failure>> evaluate(
        const antispim::spim_context& ctx) override {
        ++log_->calls;
        log_->sender = ctx.sender.full_string();
        log_->receiver = ctx.receiver.full_string();
        log_->kind = ctx.kind;
        log_->subscription_request = ctx.subscription_request;
        log_->origin = ctx.origin;
        log_->origin_domain = ctx.origin_domain;
        log_->peer_address = ctx.peer_address;
        antispim::verdict v = verdict_;
        co_return v;
    }

private:
    antispim::verdict verdict_;
    policy_log* log_;
};

inline antispim::verdict make_verdict(antispim::verdict_kind kind, std::string condition = {}, std::string text = {}) {
    antispim::verdict v;
    v.kind = kind;
    v.reason = "test";
    v.error_condition = std::move(condition);
    v.error_text = std::move(text);
    return v;
}

inline std::vector<antispim::policy_slot> one_policy(antispim::verdict v, policy_log* log) {
    std::vector<antispim::policy_slot> slots;
    antispim::policy_slot slot;
    slot.impl = std::make_unique<fixed_policy>(std::move(v), log);
    slots.push_back(std::move(slot));
    return slots;
}

inline jid parse_jid(std::string_view text) {
    auto j = jid::parse(text);
    REQUIRE(j);
    return *j;
}

// Federation as the router sees it: whatever it is handed.
class fake_remote final : public remote_router {
public:
    void send(stanza s, stanza_sink&) override { sent.push_back(s.serialize()); }
    std::vector<std::string> sent;
};

class router_fixture {
public:
    // `federated`: stanzas for remote domains go to `remote` (else they bounce: no federation).
    explicit router_fixture(antispim::verdict v = antispim::verdict::pass(), bool federated = false)
        : chain(one_policy(std::move(v), &log)),
          r(std::vector<std::string>{std::string(domain)}, sessions, directory, chain, handlers,
            links(federated)) {}

    router_links links(bool federated) {
        router_links l;
        l.strangers = &oracle;
        l.remote = federated ? &remote : nullptr;
        return l;
    }

    // A bound session; `available`/`priority` as its last broadcast presence said.
    std::shared_ptr<fake_session> connect(std::string_view full, bool available = true, int priority = 0) {
        const jid j = parse_jid(full);
        auto s = std::make_shared<fake_session>();
        sessions.bind(j, s);
        sessions.set_presence(j, available, priority);
        directory.accounts.insert(j.bare_string());
        return s;
    }

    // Routes `xml` (validated and from-stamped, as a session would hand it over) to completion.
    void route(std::string_view xml, route_origin origin = {}) {
        auto doc = std::make_shared<pugi::xml_document>();
        REQUIRE(doc->load_buffer(xml.data(), xml.size()));
        stanza s(std::move(doc), "");
        boost::asio::io_context io;
        auto fut = boost::asio::co_spawn(io, r.route(std::move(s), std::move(origin)), boost::asio::use_future);
        io.run();
        fut.get();
    }

    policy_log log;
    session_registry sessions;
    fake_directory directory;
    fake_oracle oracle{directory};
    server_handlers handlers{"test-version", {}};
    fake_remote remote;
    antispim::chain chain;
    router r;
};

// A delivered stanza parsed back.
struct parsed {
    std::shared_ptr<pugi::xml_document> doc;
    pugi::xml_node el() const { return doc->first_child(); }
    std::string_view attr(const char* name) const { return el().attribute(name).value(); }
    std::string_view name() const { return el().name(); }
};

inline parsed parse(const shared_bytes& bytes) {
    REQUIRE(bytes);
    parsed p{std::make_shared<pugi::xml_document>()};
    REQUIRE(p.doc->load_buffer(bytes->data(), bytes->size()));
    return p;
}

// The only stanza `s` received.
inline parsed only(const fake_session& s) {
    REQUIRE(s.delivered.size() == 1);
    return parse(s.delivered.front());
}

struct error_info {
    std::string type;
    std::string condition;
    std::string text;
};

inline error_info error_of(const parsed& p) {
    error_info out;
    const auto e = p.el().child("error");
    out.type = e.attribute("type").value();
    for (auto c : e.children()) {
        if (c.type() != pugi::node_element || ns::stanza_errors != c.attribute("xmlns").value()) {
            continue;
        }
        if (std::string_view(c.name()) == "text") {
            out.text = c.child_value();
        } else {
            out.condition = c.name();
        }
    }
    return out;
}

// Asserts `p` is an error reply to a stanza `original_to` sent by alice.
inline void check_error(const parsed& p, std::string_view stanza_name, std::string_view original_to,
                 std::string_view condition, std::string_view type) {
    CHECK(p.name() == stanza_name);
    CHECK(p.attr("type") == std::string_view("error"));
    CHECK(p.attr("to") == alice);
    CHECK(p.attr("from") == original_to);
    const auto e = error_of(p);
    CHECK(e.condition == condition);
    CHECK(e.type == type);
}

inline std::string chat_to(std::string_view to, std::string_view type = "chat") {
    std::string xml = "<message from='" + std::string(alice) + "' to='" + std::string(to) + "' id='m1'";
    if (!type.empty()) {
        xml += " type='" + std::string(type) + "'";
    }
    return xml + "><body>hi</body></message>";
}

inline std::string iq_to(std::string_view to, std::string_view type, std::string_view payload) {
    return "<iq from='" + std::string(alice) + "' to='" + std::string(to) + "' type='" + std::string(type) +
           "' id='q1'>" + std::string(payload) + "</iq>";
}

constexpr std::string_view ping = "<ping xmlns='urn:xmpp:ping'/>";
constexpr std::string_view disco_info = "<query xmlns='http://jabber.org/protocol/disco#info'/>";

}  // namespace hush::router_testing
