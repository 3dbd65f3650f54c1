// The anti-SPIM layer's storage (server/antispim_documents): the atomic challenge decision, held stanzas on the
// held_stanzas table (caps, eviction, expiry, documents from before schema 6) and the sweeper. Every case runs
// against both backends (see test_backends.hpp).
#include <doctest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "antispim/documents.hpp"
#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush;
using namespace hush::storage::testing;
namespace docs = hush::antispim_documents;
using hush::storage::hold_outcome;
using hush::storage::held_limits;

std::vector<std::string> xmls(const std::vector<docs::held_stanza>& held) {
    std::vector<std::string> out;
    for (const auto& h : held) {
        out.push_back(h.xml);
    }
    return out;
}

}  // namespace

TEST_CASE_TEMPLATE("decide_state: parallel decisions for one sender each see the one before", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto setup = open_with_accounts(backend);
    constexpr int threads = 4;
    constexpr int cycles = 10;
    std::mutex mutex;
    std::vector<std::string> failures;
    std::vector<unsigned> seen;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            auto s = storage::open_store(backend.options());
            for (int i = 0; i < cycles; ++i) {
                auto decided = docs::decide_state(*s, domain, "alice", "mallory@spam.test",
                                                  [](antispim::sender_state& state) {
                                                      std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                                      return ++state.tries;  // a wrong answer, say
                                                  });
                std::lock_guard lock(mutex);
                if (decided) {
                    seen.push_back(*decided);
                } else {
                    failures.push_back(decided.error().message);
                }
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    CHECK(failures.empty());
    CHECK(must(docs::get_state(*setup, domain, "alice", "mallory@spam.test")).tries == threads * cycles);
    std::sort(seen.begin(), seen.end());
    for (unsigned i = 0; i < seen.size(); ++i) {
        CHECK(seen[i] == i + 1);  // no two decisions started from the same state
    }

    // An unchanged state is not written.
    const std::string age = "SELECT updated_at FROM documents WHERE doc_key = 'antispim:state:mallory@spam.test'";
    const auto written = backend.query_int(age);
    backend.exec_raw("UPDATE documents SET updated_at = 5 WHERE doc_key = 'antispim:state:mallory@spam.test'");
    CHECK(must(docs::decide_state(*setup, domain, "alice", "mallory@spam.test",
                                  [](antispim::sender_state& state) { return state.tries; })) == threads * cycles);
    CHECK(backend.query_int(age) == 5);
    CHECK(written > 5);
}

TEST_CASE_TEMPLATE("add_held: caps, eviction reported, expiry; take_held and list_requests", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const std::int64_t expiry = 1000;
    held_limits limits;
    limits.max_per_sender = 2;
    limits.max_per_receiver = 3;
    auto hold = [&](const std::string& sender, const std::string& xml, std::int64_t now) {
        return must(docs::add_held(*s, domain, "alice", sender, xml, now, expiry, limits));
    };
    CHECK(hold("a@spam.test", "<a1/>", 100).what == hold_outcome::kind::held);
    CHECK(hold("a@spam.test", "<a2/>", 110).what == hold_outcome::kind::held);
    CHECK(hold("a@spam.test", "<a3/>", 120).what == hold_outcome::kind::sender_full);
    CHECK(hold("b@spam.test", "<b1/>", 130).what == hold_outcome::kind::held);
    const auto evicted = hold("c@spam.test", "<c1/>", 140);
    CHECK(evicted.what == hold_outcome::kind::evicted);
    CHECK(evicted.evicted == std::vector<storage::evicted_request>{{domain, "alice", "a@spam.test", 2}});

    // The old form still works (per-sender cap only).
    CHECK(must(docs::add_held(*s, domain, "alice", "b@spam.test", "<b2/>", 150, expiry, storage::held_limits{2})).kept());
    CHECK_FALSE(must(docs::add_held(*s, domain, "alice", "b@spam.test", "<b3/>", 160, expiry, storage::held_limits{2})).kept());

    auto requests = must(docs::list_requests(*s, domain, "alice", 200, expiry));
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].sender == "b@spam.test");
    CHECK(xmls(requests[0].held) == std::vector<std::string>{"<b1/>", "<b2/>"});
    CHECK(requests[0].held[0].at == 130);
    CHECK(requests[1].sender == "c@spam.test");
    CHECK(must(docs::count_requests(*s)) == 2);

    // At 1135, b1 (130) has expired and b2 (150) has not: listed and taken without b1.
    requests = must(docs::list_requests(*s, domain, "alice", 1135, expiry));
    REQUIRE(requests.size() == 2);
    CHECK(xmls(requests[0].held) == std::vector<std::string>{"<b2/>"});
    CHECK(xmls(must(docs::take_held(*s, domain, "alice", "b@spam.test", 1135, expiry))) ==
          std::vector<std::string>{"<b2/>"});
    CHECK(must(docs::take_held(*s, domain, "alice", "b@spam.test", 1135, expiry)).empty());
    // Holding expires the receiver's old ones first: c1 (140) is gone at 1200.
    CHECK(hold("d@spam.test", "<d1/>", 1200).what == hold_outcome::kind::held);
    requests = must(docs::list_requests(*s, domain, "alice", 1200, expiry));
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].sender == "d@spam.test");
}

TEST_CASE_TEMPLATE("held documents from before schema 6 move into the table when used", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const std::string legacy =
        "<held><item at='100'>&lt;message&gt;one&lt;/message&gt;</item><item at='110'>&lt;two/&gt;</item></held>";
    must(s->put_document(domain, "alice", docs::held_key("a@spam.test"), legacy));
    must(s->put_document(domain, "alice", docs::held_key("b@spam.test"), legacy));
    must(s->put_document(domain, "bob", docs::held_key("a@spam.test"), legacy));

    // Listing moves every one of the account's.
    auto requests = must(docs::list_requests(*s, domain, "alice", 200, 1000));
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].sender == "a@spam.test");
    CHECK(xmls(requests[0].held) == std::vector<std::string>{"<message>one</message>", "<two/>"});
    CHECK(requests[0].held[0].at == 100);
    CHECK(must(s->document_keys(domain, "alice", "antispim:held:")).empty());

    // Holding moves the sender's first, so the cap counts them.
    CHECK_FALSE(must(docs::add_held(*s, domain, "bob", "a@spam.test", "<three/>", 200, 1000, storage::held_limits{2})).kept());
    CHECK(must(s->document_keys(domain, "bob", "antispim:held:")).empty());
    CHECK(xmls(must(docs::take_held(*s, domain, "bob", "a@spam.test", 200, 1000))) ==
          std::vector<std::string>{"<message>one</message>", "<two/>"});
}

TEST_CASE_TEMPLATE("sweep: expired held stanzas, challenge states, contact notes and old held documents", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const std::int64_t now = now_unix();
    const std::int64_t day = 86400;
    held_limits limits;
    limits.max_per_sender = 100;
    for (int i = 0; i < 5; ++i) {
        must(s->add_held_stanza(domain, "alice", "old@spam.test", "<o/>", now - 10 * day + i, limits));
    }
    must(s->add_held_stanza(domain, "bob", "new@spam.test", "<n/>", now - day, limits));
    must(docs::put_state(*s, domain, "alice", "old@spam.test", antispim::sender_state{}));
    must(docs::put_state(*s, domain, "bob", "new@spam.test", antispim::sender_state{}));
    must(docs::note_contact(*s, domain, "alice", "friend@example.net"));
    must(docs::note_contact(*s, domain, "bob", "friend@example.net"));
    must(s->put_document(domain, "bob", docs::held_key("gone@spam.test"), "<held/>"));
    must(s->put_document(domain, "bob", "antispim:settings", "<challenge/>"));
    backend.exec_raw("UPDATE documents SET updated_at = " + std::to_string(now - 40 * day) +
                     " WHERE username = 'alice' OR doc_key = 'antispim:held:gone@spam.test'");

    SUBCASE("everything expired goes; the rest stays") {
        const auto counts = must(docs::sweep(*s, now, 7 * day, 30 * day, 30 * day));
        CHECK(counts.held == 5);
        CHECK(counts.states == 1);
        CHECK(counts.contacts == 1);
        CHECK(counts.legacy_held == 1);
        CHECK_FALSE(counts.more);
        CHECK(must(s->count_held()).stanzas == 1);
        CHECK_FALSE(must(s->get_document(domain, "alice", docs::state_key("old@spam.test"))).has_value());
        CHECK(must(s->get_document(domain, "bob", docs::state_key("new@spam.test"))).has_value());
        CHECK_FALSE(must(s->get_document(domain, "alice", docs::contact_key("friend@example.net"))).has_value());
        CHECK(must(s->get_document(domain, "bob", docs::contact_key("friend@example.net"))).has_value());
        CHECK(must(s->get_document(domain, "bob", "antispim:settings")).has_value());
        CHECK(must(docs::sweep(*s, now, 7 * day, 30 * day, 30 * day)).held == 0);
    }
    SUBCASE("a budget: more to do, the next call goes on") {
        auto counts = must(docs::sweep(*s, now, 7 * day, 30 * day, 30 * day, 3, 2));
        CHECK(counts.held == 3);
        CHECK(counts.more);
        counts = must(docs::sweep(*s, now, 7 * day, 30 * day, 30 * day, 3, 2));
        CHECK(counts.held == 2);
        CHECK_FALSE(counts.more);
    }
    SUBCASE("0 keeps a kind forever") {
        const auto counts = must(docs::sweep(*s, now, 0, 0, 30 * day));
        CHECK(counts.held == 0);
        CHECK(counts.states == 0);
        CHECK(counts.legacy_held == 0);
        CHECK(counts.contacts == 1);
    }
}
