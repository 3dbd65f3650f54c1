// Storage round trips on the whole path of a stranger's first contact (issue 15): the real router, IM core,
// anti-SPIM layer with the default chain, and store (SQLite with its readers, and PostgreSQL), counting every
// storage job (async_store's job observer) from the moment the stanza enters the router until it is held and the
// challenge is out. A failing count prints each job's call site.
#include <doctest.h>

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "antispim/blocklist_service.hpp"
#include "antispim/chain.hpp"
#include "antispim/content_signals.hpp"
#include "antispim/documents.hpp"
#include "antispim/dos_detector.hpp"
#include "antispim/outbound_guard.hpp"
#include "antispim/admin_notifier.hpp"
#include "antispim/rate_limiter.hpp"
#include "antispim/stranger_service.hpp"
#include "server/config/config.hpp"
#include "server/im/accounts.hpp"
#include "server/im/im_context.hpp"
#include "server/im/im_core.hpp"
#include "server/im/server_handlers.hpp"
#include "server/pipeline/router.hpp"
#include "storage/async_store.hpp"
#include "tests/unit/recording.hpp"
#include "tests/unit/storage/test_backends.hpp"

using namespace hush;

namespace {

class remote_sink final : public remote_router {
public:
    void send(stanza s, stanza_sink&) override { sent.push_back(std::move(s)); }
    std::vector<stanza> sent;
};

config world_config(const storage::store_options& storage, std::vector<std::string> dry_run,
                    const std::function<void(config&)>& adjust) {
    config c;
    c.antispim.dry_run = std::move(dry_run);
    c.hosts = {"example.org"};
    c.storage = storage;
    c.antispim.offline_quota = c.limits.max_offline_messages;
    if (adjust) {
        adjust(c);
    }
    return c;  // the default chain: blocklist, dos, rate, content, challenge
}

// The server's parts as server.cpp wires them, minus the network.
struct world {
    explicit world(const storage::store_options& storage, std::vector<std::string> dry_run = {},
                   const std::function<void(config&)>& adjust = {})
        : cfg(world_config(storage, std::move(dry_run), adjust)),
          store(cfg.storage),
          blocklist(cfg.antispim, cfg.storage, "", store),
          admins("example.org", {}),
          evidence(cfg.antispim.dos.evidence_window),
          dos(cfg.antispim, store, blocklist, evidence, is_local()),
          strangers(cfg.antispim, store, is_local(), nullptr, {}),
          outbound(cfg.antispim, store, admins, strangers),
          rate(cfg.antispim.rate, is_local()),
          content(cfg.antispim, store, "secret",
                  antispim::sender_signal_source(cfg.antispim, store, blocklist, strangers, dos),
                  [this](const antispim::spim_context& ctx) { return strangers.hold_quietly(ctx); },
                  io.get_executor()),
          chain(antispim::chain::build(cfg.antispim,
                                       {{"challenge", [this] { return strangers.make_challenge_policy(); }},
                                        {"blocklist", [this] { return blocklist.make_policy(); }},
                                        {"dos", [this] { return dos.make_policy(); }},
                                        {"rate", [this] { return rate.make_policy(); }},
                                        {"content", [this] { return content.make_policy(); }}})),
          im_ctx{store, registry, cfg.limits.max_offline_messages},
          im(im_ctx, nullptr),
          handlers("test", {}),
          accounts(store),
          r(cfg.hosts, registry, accounts, *chain, handlers, links()) {
        for (const char* node : {"alice", "bob"}) {
            auto made = test::run_sync(store.run([node](storage::store& s) {
                return s.create_account("example.org", node, storage::testing::make_credentials('x'));
            }));
            REQUIRE(made);
            REQUIRE(*made);
        }
        store.observe_jobs([this](const storage::async_store::job_site& site) { sites.push_back(site); });
    }

    static std::function<bool(std::string_view)> is_local() {
        return [](std::string_view d) { return d == "example.org"; };
    }

    router_links links() {
        router_links l;
        l.im = &im;
        l.strangers = &strangers;
        l.outbound = &outbound;
        l.remote = &remote;
        return l;
    }

    // Routes `xml` to completion and returns the storage jobs it took.
    std::size_t route(std::string_view xml, route_origin origin) {
        stanza s = stanza::parse(xml);
        REQUIRE(s.valid());
        sites.clear();
        test::run_sync(r.route(std::move(s), std::move(origin)));
        return sites.size();
    }

    // "file:line (read)" for each job, for the failure message.
    std::string trips() const {
        std::string out;
        for (const auto& site : sites) {
            out += std::string(site.file) + ":" + std::to_string(site.line) + (site.read_only ? " (read)" : " (write)") +
                   "\n";
        }
        return out;
    }

    std::vector<storage::offline_message> offline(const std::string& node) {
        auto found = test::run_sync(store.run([node](storage::store& s) {
            return s.get_offline_messages("example.org", node);
        }));
        REQUIRE(found);
        return *found;
    }

    // Whether `node` has a note that it wrote to `target` first.
    bool noted(const std::string& node, const std::string& target) {
        auto found = test::run_sync(store.run([node, target](storage::store& s) {
            return s.get_document("example.org", node, antispim_documents::contact_key(target));
        }));
        REQUIRE(found);
        return found->has_value();
    }

    std::size_t held(const std::string& node) {
        auto found = test::run_sync(store.run([node](storage::store& s) {
            return s.list_held_stanzas("example.org", node);
        }));
        REQUIRE(found);
        return found->size();
    }

    config cfg;
    storage::async_store store;
    session_registry registry;
    blocklist_service blocklist;
    admin_notifier admins;
    antispim::challenge_evidence evidence;
    dos_detector dos;
    antispim_service strangers;
    outbound_guard outbound;
    rate_limiter rate;
    boost::asio::io_context io;  // where the content policy's lessons would run (none here)
    antispim::content_service content;
    std::unique_ptr<antispim::chain> chain;
    im_context im_ctx;
    im_core im;
    server_handlers handlers;
    storage_account_directory accounts;
    remote_sink remote;
    router r;
    std::vector<storage::async_store::job_site> sites;
};

route_origin from_remote() {
    route_origin origin;
    origin.kind = antispim::origin_kind::remote_domain;
    origin.domain = "remote.test";
    origin.peer_address = "198.51.100.7";
    return origin;
}

// The challenge the remote stranger got: the question as a chat message, then the form.
void check_challenged(const remote_sink& remote, std::string_view from) {
    REQUIRE(remote.sent.size() == 2);
    CHECK(remote.sent[0].from() == from);
    CHECK(remote.sent[0].to() == "mallory@remote.test/x");
    CHECK(remote.sent[0].child("question", "urn:hush:antispim:0"));
    CHECK(remote.sent[1].child("captcha", "urn:xmpp:captcha"));
}

// A client of `full` online, whose client asked for its blocklist at login (as common clients do), so the
// account's privacy settings are read once and cached from then on; what it received so far is cleared.
std::shared_ptr<test::recording_session> log_in(world& w, const std::string& full) {
    auto session = std::make_shared<test::recording_session>();
    const jid address = *jid::parse(full);
    w.registry.bind(address, session);
    w.registry.set_presence(address, true, 0);
    w.route("<iq type='get' from='" + full + "' to='" + address.bare_string() + "' id='b1'>"
            "<blocklist xmlns='urn:xmpp:blocking'/></iq>",
            route_origin{});
    REQUIRE(session->delivered.size() == 1);
    session->delivered.clear();
    return session;
}

}  // namespace

TEST_CASE_TEMPLATE("a remote stranger's first message takes two storage round trips: held, challenged, notified",
                   B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2));
    const auto trips = w.route("<message from='mallory@remote.test/x' to='bob@example.org' type='chat' id='m1'>"
                               "<body>hello</body></message>",
                               from_remote());
    INFO("storage jobs:\n" << w.trips());
    CHECK(trips <= 2);
    REQUIRE(w.sites.size() == 2);
    CHECK(w.sites[0].read_only);       // what bob is to mallory, with bob's challenge data
    CHECK_FALSE(w.sites[1].read_only);  // read-decide-write: state, held stanza, notice, in one transaction
    check_challenged(w.remote, "bob@example.org");
    CHECK(w.held("bob") == 1);  // held, not dropped
    // bob is offline: the notice that a request waits is with his offline messages, written in the same operation.
    const auto offline = w.offline("bob");
    REQUIRE(offline.size() == 1);
    CHECK(offline[0].stanza.find("<requests xmlns=\"urn:hush:antispim:0\" count=\"1\"") != std::string::npos);

    SUBCASE("the second message: two again (the notice is once a day), still held") {
        w.remote.sent.clear();
        const auto again = w.route("<message from='mallory@remote.test/x' to='bob@example.org' type='chat' id='m2'>"
                                   "<body>hello?</body></message>",
                                   from_remote());
        INFO("storage jobs:\n" << w.trips());
        CHECK(again == 2);
        CHECK(w.held("bob") == 2);
        CHECK(w.offline("bob").size() == 1);
    }
}

TEST_CASE_TEMPLATE("a remote stranger's first invitation takes two storage round trips", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2));
    const auto trips =
        w.route("<presence from='mallory@remote.test/x' to='bob@example.org' type='subscribe'/>", from_remote());
    INFO("storage jobs:\n" << w.trips());
    CHECK(trips == 2);
    check_challenged(w.remote, "bob@example.org");
    CHECK(w.held("bob") == 1);
}

TEST_CASE_TEMPLATE("a missing account costs the same round trips and gets the same answer", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2));
    const auto existing = w.route("<message from='mallory@remote.test/x' to='bob@example.org' type='chat' id='m1'>"
                                  "<body>hello</body></message>",
                                  from_remote());
    const auto to_bob = w.remote.sent;
    w.remote.sent.clear();
    const auto missing = w.route("<message from='mallory@remote.test/x' to='nobody@example.org' type='chat' id='m1'>"
                                 "<body>hello</body></message>",
                                 from_remote());
    INFO("storage jobs:\n" << w.trips());
    CHECK(missing == existing);
    REQUIRE(w.sites.size() == 2);
    CHECK(w.sites[0].read_only);
    CHECK_FALSE(w.sites[1].read_only);
    check_challenged(w.remote, "nobody@example.org");
    // The same stanzas but for the addresses and the random parts (ids, the answers' order).
    REQUIRE(to_bob.size() == w.remote.sent.size());
    for (std::size_t i = 0; i < to_bob.size(); ++i) {
        CHECK(to_bob[i].name() == w.remote.sent[i].name());
        CHECK(to_bob[i].type() == w.remote.sent[i].type());
    }
    CHECK(w.held("nobody") == 0);  // nothing is kept for nobody
}

TEST_CASE_TEMPLATE("an online receiver: the notice is delivered, the first message still takes two round trips", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2));
    auto desk = log_in(w, "bob@example.org/desk");
    const auto trips = w.route("<message from='mallory@remote.test/x' to='bob@example.org' type='chat' id='m1'>"
                               "<body>hello</body></message>",
                               from_remote());
    INFO("storage jobs:\n" << w.trips());
    CHECK(trips == 2);
    check_challenged(w.remote, "bob@example.org");
    REQUIRE(desk->delivered.size() == 1);
    CHECK(desk->delivered[0].child("requests", "urn:hush:antispim:0"));
    CHECK(w.offline("bob").empty());
}

// Whether the phone got the challenge's question.
bool questioned(const test::recording_session& session) {
    bool found = false;
    for (const auto& s : session.delivered) {
        found = found || bool(s.child("question", "urn:hush:antispim:0"));
    }
    return found;
}

TEST_CASE_TEMPLATE("a local stranger's first message takes two storage round trips, the sender's side included", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2));
    auto phone = log_in(w, "alice@example.org/phone");
    const auto trips = w.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'>"
                               "<body>hello</body></message>",
                               route_origin{});
    INFO("storage jobs:\n" << w.trips());
    CHECK(trips <= 2);
    REQUIRE(w.sites.size() == 2);
    // Alice's side (is bob a stranger to her; her flag and age, for outbound protection) and bob's (what alice is
    // to him, with his challenge data), in one read.
    CHECK(w.sites[0].read_only);
    // Bob's read-decide-write, which also stores alice's note that she wrote to him first.
    CHECK_FALSE(w.sites[1].read_only);
    CHECK(w.held("bob") == 1);
    CHECK(w.noted("alice", "bob@example.org"));
    // alice (a fresh account: local trust needs a week) is challenged on her phone.
    CHECK(questioned(*phone));

    SUBCASE("bob's answer reaches alice unjudged: her note made him her contact") {
        auto desk = log_in(w, "bob@example.org/desk");
        phone->delivered.clear();
        w.route("<message from='bob@example.org/desk' to='alice@example.org' type='chat' id='r1'>"
                "<body>who is this?</body></message>",
                route_origin{});
        REQUIRE(phone->delivered.size() == 1);
        CHECK(std::string(phone->delivered[0].element().child_value("body")) == "who is this?");
        CHECK(w.held("alice") == 0);
    }
    SUBCASE("the second message: two again (her note is known), still held") {
        const auto again = w.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' "
                                   "id='m2'><body>hello?</body></message>",
                                   route_origin{});
        INFO("storage jobs:\n" << w.trips());
        CHECK(again == 2);
        CHECK(w.held("bob") == 2);
    }
}

TEST_CASE_TEMPLATE("local first contacts scored: a new account's age comes with the outbound guard's read", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2), {}, [](config& c) {
        c.antispim.content.local_first_contacts = true;
        c.antispim.content.bayes = false;
        c.antispim.score.new_account = c.antispim.score.hold_at;  // a new account alone: held, no challenge
    });
    auto phone = log_in(w, "alice@example.org/phone");
    const auto trips = w.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'>"
                               "<body>hello</body></message>",
                               route_origin{});
    INFO("storage jobs:\n" << w.trips());
    CHECK(trips == 2);  // no read of its own for the account's age
    CHECK(w.held("bob") == 1);
    CHECK_FALSE(questioned(*phone));  // the hold band asks nothing
}

TEST_CASE_TEMPLATE("local first contacts scored with outbound protection off: the score reads the age itself", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2), {}, [](config& c) {
        c.antispim.content.local_first_contacts = true;
        c.antispim.content.bayes = false;
        c.antispim.score.new_account = c.antispim.score.hold_at;
        c.antispim.outbound.enabled = false;
    });
    auto phone = log_in(w, "alice@example.org/phone");
    const auto trips = w.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'>"
                               "<body>hello</body></message>",
                               route_origin{});
    INFO("storage jobs:\n" << w.trips());
    CHECK(trips == 3);  // one read more than with the guard's read, same verdict
    CHECK(w.held("bob") == 1);
    CHECK_FALSE(questioned(*phone));
}

TEST_CASE_TEMPLATE("a local user's first message to a missing account costs the same and gets the same answer", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2));
    auto phone = log_in(w, "alice@example.org/phone");
    w.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'>"
            "<body>hello</body></message>",
            route_origin{});
    const auto to_bob = w.sites;
    const auto answer_bob = phone->delivered;
    phone->delivered.clear();
    w.route("<message from='alice@example.org/phone' to='nobody@example.org' type='chat' id='m1'>"
            "<body>hello</body></message>",
            route_origin{});
    INFO("storage jobs:\n" << w.trips());
    REQUIRE(w.sites.size() == to_bob.size());
    for (std::size_t i = 0; i < to_bob.size(); ++i) {
        CHECK(w.sites[i].read_only == to_bob[i].read_only);
    }
    CHECK(questioned(*phone));
    REQUIRE(answer_bob.size() == phone->delivered.size());
    for (std::size_t i = 0; i < answer_bob.size(); ++i) {
        CHECK(answer_bob[i].name() == phone->delivered[i].name());
        CHECK(answer_bob[i].type() == phone->delivered[i].type());
    }
    CHECK(w.noted("alice", "nobody@example.org"));  // written to first, as to an existing account
    CHECK(w.held("nobody") == 0);
}

TEST_CASE_TEMPLATE("with the challenge in dry run, a local stranger's message is delivered and her note stored first", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2), {"challenge"});
    auto phone = log_in(w, "alice@example.org/phone");
    auto desk = log_in(w, "bob@example.org/desk");
    w.route("<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'>"
            "<body>hello</body></message>",
            route_origin{});
    INFO("storage jobs:\n" << w.trips());
    // One read for both sides, then her note (no atomic decision ran to carry it), then delivery.
    REQUIRE(w.sites.size() == 2);
    CHECK(w.sites[0].read_only);
    CHECK_FALSE(w.sites[1].read_only);
    CHECK(w.noted("alice", "bob@example.org"));
    CHECK(w.held("bob") == 0);
    REQUIRE(desk->delivered.size() == 1);
    CHECK(std::string(desk->delivered[0].element().child_value("body")) == "hello");
    CHECK_FALSE(questioned(*phone));
}

TEST_CASE_TEMPLATE("a local user's first message to a remote stranger: outbound protection in one read, then her note",
                   B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    world w(backend.options(2));
    auto phone = log_in(w, "alice@example.org/phone");
    const auto trips = w.route("<message from='alice@example.org/phone' to='mallory@remote.test' type='chat' id='m1'>"
                               "<body>hello</body></message>",
                               route_origin{});
    INFO("storage jobs:\n" << w.trips());
    CHECK(trips <= 2);
    REQUIRE(w.sites.size() == 2);
    CHECK(w.sites[0].read_only);        // is mallory a stranger to her, and her flag and age
    CHECK_FALSE(w.sites[1].read_only);  // her note, before the message leaves
    CHECK(w.noted("alice", "mallory@remote.test"));
    REQUIRE(w.remote.sent.size() == 1);
    CHECK(w.remote.sent[0].to() == "mallory@remote.test");
}
