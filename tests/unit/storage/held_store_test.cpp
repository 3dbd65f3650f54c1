// Held stanzas storage tests (migration 6): the anti-SPIM layer's held stanzas per receiver and sender, their
// caps per sender, per receiver and server-wide, and their expiry. Every case runs against both backends (see
// test_backends.hpp).
#include <doctest.h>

#include <string>
#include <vector>

#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

using strings = std::vector<std::string>;

}  // namespace

namespace {

held_limits per_sender(std::size_t n) {
    held_limits l;
    l.max_per_sender = n;
    return l;
}

std::vector<std::string> xmls(const std::vector<held_stanza_record>& held) {
    std::vector<std::string> out;
    for (const auto& h : held) {
        out.push_back(h.xml);
    }
    return out;
}

}  // namespace

TEST_CASE_TEMPLATE("held stanzas: hold, per-sender cap, list, senders, take oldest first, counts", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->add_held_stanza(domain, "alice", "mallory@spam.test", "<m1/>", 200, per_sender(2))).what ==
          hold_outcome::kind::held);
    // An earlier held_at sorts first even when held later.
    CHECK(must(s->add_held_stanza(domain, "alice", "mallory@spam.test", "<m0/>", 150, per_sender(2))).kept());
    const auto full = must(s->add_held_stanza(domain, "alice", "mallory@spam.test", "<m2/>", 300, per_sender(2)));
    CHECK(full.what == hold_outcome::kind::sender_full);
    CHECK_FALSE(full.kept());
    CHECK(full.evicted.empty());
    CHECK(must(s->add_held_stanza(domain, "alice", "eve_x@spam.test", "<e1/>", 250, per_sender(2))).kept());
    CHECK(must(s->add_held_stanza(domain, "bob", "mallory@spam.test", "<b1/>", 250, per_sender(2))).kept());
    CHECK_FALSE(s->add_held_stanza(domain, "nobody", "mallory@spam.test", "<n/>", 250, per_sender(2)).has_value());

    CHECK(must(s->held_senders(domain, "alice")) == strings{"eve_x@spam.test", "mallory@spam.test"});
    const auto listed = must(s->list_held_stanzas(domain, "alice"));
    CHECK(xmls(listed) == strings{"<e1/>", "<m0/>", "<m1/>"});
    CHECK(listed[1].sender == "mallory@spam.test");
    CHECK(listed[1].held_at == 150);
    const auto totals = must(s->count_held());
    CHECK(totals.requests == 3);
    CHECK(totals.stanzas == 4);
    CHECK(totals.bytes == 5 * 4);

    CHECK(xmls(must(s->take_held_stanzas(domain, "alice", "mallory@spam.test"))) == strings{"<m0/>", "<m1/>"});
    CHECK(must(s->take_held_stanzas(domain, "alice", "mallory@spam.test")).empty());  // taken once
    CHECK(must(s->held_senders(domain, "alice")) == strings{"eve_x@spam.test"});
    CHECK(must(s->count_held()).requests == 2);

    // Gone with the account.
    REQUIRE(must(s->delete_account(domain, "bob")));
    CHECK(must(s->count_held()).stanzas == 1);
}

TEST_CASE_TEMPLATE("held stanzas: a full receiver evicts its oldest request, never the sender's own", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    held_limits limits;
    limits.max_per_sender = 10;
    limits.max_per_receiver = 3;
    must(s->add_held_stanza(domain, "alice", "a@spam.test", "<a1/>", 100, limits));
    must(s->add_held_stanza(domain, "alice", "b@spam.test", "<b1/>", 110, limits));
    must(s->add_held_stanza(domain, "alice", "a@spam.test", "<a2/>", 120, limits));
    must(s->add_held_stanza(domain, "bob", "a@spam.test", "<other/>", 50, limits));  // another receiver

    // Full: a's request (its oldest stanza is the oldest) goes, both stanzas.
    auto out = must(s->add_held_stanza(domain, "alice", "c@spam.test", "<c1/>", 130, limits));
    CHECK(out.what == hold_outcome::kind::evicted);
    CHECK(out.evicted == std::vector<evicted_request>{{domain, "alice", "a@spam.test", 2}});
    CHECK(xmls(must(s->list_held_stanzas(domain, "alice"))) == strings{"<b1/>", "<c1/>"});

    // The oldest is the sender's own: the next oldest goes instead.
    must(s->add_held_stanza(domain, "alice", "d@spam.test", "<d1/>", 140, limits));
    out = must(s->add_held_stanza(domain, "alice", "b@spam.test", "<b2/>", 150, limits));
    CHECK(out.evicted == std::vector<evicted_request>{{domain, "alice", "c@spam.test", 1}});
    CHECK(xmls(must(s->list_held_stanzas(domain, "alice"))) == strings{"<b1/>", "<b2/>", "<d1/>"});
    CHECK(xmls(must(s->list_held_stanzas(domain, "bob"))) == strings{"<other/>"});

    SUBCASE("bytes") {
        held_limits bytes;
        bytes.max_bytes_per_receiver = 20;  // each stanza here is 5 or 6 bytes
        out = must(s->add_held_stanza(domain, "alice", "e@spam.test", "<e11/>", 160, bytes));
        // 15 + 6 > 20: b's request (10 bytes) goes.
        CHECK(out.evicted == std::vector<evicted_request>{{domain, "alice", "b@spam.test", 2}});
        CHECK(xmls(must(s->list_held_stanzas(domain, "alice"))) == strings{"<d1/>", "<e11/>"});
        // Bigger than the receiver may hold at all: refused, nothing evicted.
        out = must(s->add_held_stanza(domain, "alice", "f@spam.test", std::string(21, 'x'), 170, bytes));
        CHECK(out.what == hold_outcome::kind::no_room);
        CHECK(out.evicted.empty());
        CHECK(xmls(must(s->list_held_stanzas(domain, "alice"))) == strings{"<d1/>", "<e11/>"});
    }
    SUBCASE("only the sender's own left") {
        held_limits two;
        two.max_per_receiver = 2;
        two.max_per_sender = 5;
        must(s->take_held_stanzas(domain, "alice", "d@spam.test"));
        out = must(s->add_held_stanza(domain, "alice", "b@spam.test", "<b3/>", 160, two));
        CHECK(out.what == hold_outcome::kind::no_room);
        CHECK(xmls(must(s->list_held_stanzas(domain, "alice"))) == strings{"<b1/>", "<b2/>"});
    }
}

TEST_CASE_TEMPLATE("held stanzas: the server-wide cap evicts the oldest request anywhere", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    held_limits limits;
    limits.max_total = 3;
    must(s->add_held_stanza(domain, "bob", "a@spam.test", "<a1/>", 100, limits));
    must(s->add_held_stanza(domain, "alice", "b@spam.test", "<b1/>", 110, limits));
    must(s->add_held_stanza(domain, "bob", "a@spam.test", "<a2/>", 120, limits));
    auto out = must(s->add_held_stanza(domain, "alice", "c@spam.test", "<c1/>", 130, limits));
    CHECK(out.what == hold_outcome::kind::evicted);
    CHECK(out.evicted == std::vector<evicted_request>{{domain, "bob", "a@spam.test", 2}});
    CHECK(must(s->count_held()).stanzas == 2);
    CHECK(must(s->list_held_stanzas(domain, "bob")).empty());
}

TEST_CASE_TEMPLATE("held stanzas: expiry on hold (the receiver's) and delete_held_before (everyone's)", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->add_held_stanza(domain, "alice", "a@spam.test", "<a1/>", 100, per_sender(1)));
    must(s->add_held_stanza(domain, "bob", "a@spam.test", "<a1/>", 100, per_sender(1)));
    // a's stanza for alice expired before 150: it goes, so there is room for the new one.
    held_limits limits = per_sender(1);
    limits.expire_before = 150;
    CHECK(must(s->add_held_stanza(domain, "alice", "a@spam.test", "<a2/>", 200, limits)).what ==
          hold_outcome::kind::held);
    CHECK(xmls(must(s->list_held_stanzas(domain, "alice"))) == strings{"<a2/>"});
    CHECK(xmls(must(s->list_held_stanzas(domain, "bob"))) == strings{"<a1/>"});  // not this receiver's

    must(s->add_held_stanza(domain, "bob", "b@spam.test", "<b1/>", 90, per_sender(5)));
    must(s->add_held_stanza(domain, "bob", "b@spam.test", "<b2/>", 95, per_sender(5)));
    CHECK(must(s->delete_held_before(100, 2)) == 2);  // the limit holds, oldest first
    CHECK(xmls(must(s->list_held_stanzas(domain, "bob"))) == strings{"<a1/>"});
    CHECK(must(s->delete_held_before(200, 10)) == 1);
    CHECK(must(s->delete_held_before(200, 10)) == 0);
    CHECK(xmls(must(s->list_held_stanzas(domain, "alice"))) == strings{"<a2/>"});
}
