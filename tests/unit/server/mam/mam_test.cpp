// server/mam against a real SQLite async_store: the archiver (what is archived, both directions, preferences with
// the roster, stanza-id stamping and forgeries, forget, the sweep) and mam_queries (results then <fin/>, paging,
// errors, preferences, only one's own archive).
#include <doctest.h>

#include "tests/unit/server/mam/mam_fixture.hpp"

using namespace hush;
using namespace hush::mam_testing;

TEST_CASE("archiver: only chat and normal messages with a body, never the server's own challenge talk") {
    CHECK(archiver::archivable(make_stanza(chat("a@x", "b@x", "hi"))));
    CHECK(archiver::archivable(make_stanza("<message to='b@x'><body>hi</body></message>")));
    CHECK(archiver::archivable(make_stanza("<message type='normal' to='b@x'><body>hi</body></message>")));
    CHECK_FALSE(archiver::archivable(make_stanza("<message type='groupchat' to='b@x'><body>hi</body></message>")));
    CHECK_FALSE(archiver::archivable(make_stanza("<message type='headline' to='b@x'><body>hi</body></message>")));
    CHECK_FALSE(archiver::archivable(make_stanza("<message type='error' to='b@x'><body>hi</body></message>")));
    CHECK_FALSE(archiver::archivable(
        make_stanza("<message type='chat' to='b@x'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")));
    CHECK_FALSE(archiver::archivable(make_stanza(chat("a@x", "b@x", "hi", "<no-store xmlns='urn:xmpp:hints'/>"))));
    CHECK_FALSE(archiver::archivable(
        make_stanza(chat("a@x", "b@x", "What is 2+2?", "<question xmlns='urn:hush:antispim:0' challenge='c'/>"))));
    CHECK_FALSE(archiver::archivable(make_stanza("<iq type='set' to='b@x'><body>no</body></iq>")));
}

TEST_CASE("archiver: ids only grow, even within one microsecond") {
    fixture f;
    std::int64_t last = 0;
    for (int i = 0; i < 300; ++i) {
        stanza m = make_stanza(chat(alice, "bob@example.org", "x"));
        const auto id = run_sync(f.archive.inbound(m, parse_jid(alice), parse_jid("bob@example.org"), false));
        REQUIRE(id);
        CHECK(*id > last);
        last = *id;
    }
}

TEST_CASE("archiver: ids go on from the highest stored one after a restart, even with the clock behind it") {
    fixture f;
    // An item from "the future" (a clock since stepped back, or another run's): the next ids are larger.
    const std::int64_t ahead = now_us() + std::int64_t{3600} * 1000000;
    storage::archived_message later{ahead, "alice@example.org", storage::archive_direction::incoming,
                                    chat(alice, "bob@example.org", "later")};
    REQUIRE(run_sync(f.store.run([later](storage::store& s) { return s.append_archive("example.org", "alice", later); })));
    const auto highest = run_sync(f.store.read([](storage::store& s) { return s.max_archive_id(); }));
    REQUIRE(highest);
    CHECK(*highest == ahead);
    archiver restarted(f.cfg, f.store);
    REQUIRE(run_sync(restarted.load_last_id()));
    stanza m = make_stanza(chat(alice, "bob@example.org", "after the restart"));
    const auto id = run_sync(restarted.inbound(m, parse_jid(alice), parse_jid("bob@example.org"), false));
    REQUIRE(id);
    CHECK(*id == ahead + 1);
    // An empty archive: 0.
    temp_dir other;
    storage::async_store empty(sqlite_options(other.path()));
    const auto none = run_sync(empty.read([](storage::store& s) { return s.max_archive_id(); }));
    REQUIRE(none);
    CHECK(*none == 0);
}

TEST_CASE("archiver: both directions archived and stamped; a forged stanza-id removed; forget") {
    fixture f;
    f.send(chat(alice, "bob@example.org", "hello bob"));
    const stanza got = f.receive(chat(alice, "bob@example.org", "hello bob",
                                      "<stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.org' id='forged'/>"
                                      "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='hers'/>"));
    std::vector<std::string> bob_ids, other_ids;
    for (auto sid : got.element().children("stanza-id")) {
        (std::string_view(sid.attribute("by").value()) == "bob@example.org" ? bob_ids : other_ids)
            .emplace_back(sid.attribute("id").value());
    }
    REQUIRE(bob_ids.size() == 1);
    CHECK(bob_ids[0] != "forged");
    CHECK(other_ids == std::vector<std::string>{"hers"});

    auto bobs = f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2' queryid='x'/>");
    CHECK(fixture::bodies(bobs) == std::vector<std::string>{"hello bob"});
    REQUIRE(bobs.results.size() == 1);
    auto result = bobs.results[0].element().child("result");
    CHECK(std::string_view(result.attribute("id").value()) == bob_ids[0]);
    CHECK(std::string_view(result.attribute("queryid").value()) == "x");
    CHECK(std::string_view(bobs.results[0].from()) == "bob@example.org");
    CHECK(std::string_view(bobs.results[0].to()) == bob);
    // The archived copy is the message as it came, without the forgery (the stamp is the result's id).
    CHECK(result.child("forwarded").child("message").find_child_by_attribute("stanza-id", "id", "forged").empty());
    auto alices = f.query(alice, "alice@example.org", "<query xmlns='urn:xmpp:mam:2'/>");
    CHECK(fixture::bodies(alices) == std::vector<std::string>{"hello bob"});

    // To oneself: once.
    f.send(chat(alice, "alice@example.org", "note to self"));
    f.receive(chat(alice, "alice@example.org", "note to self"));
    CHECK(fixture::bodies(f.query(alice, "alice@example.org", "<query xmlns='urn:xmpp:mam:2'/>")) ==
          std::vector<std::string>{"hello bob", "note to self"});

    // Forgotten (refused after all): gone.
    stanza bounced = stanza::parse(got.serialize());
    run_sync(f.archive.forget(parse_jid("bob@example.org"), std::stoll(bob_ids[0]), bounced));
    CHECK(mam::stanza_id(bounced, "bob@example.org").empty());  // a bounce must not tell what was archived
    CHECK(mam::stanza_id(bounced, "alice@example.org") == "hers");
    CHECK(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>").results.empty());
}

TEST_CASE("archiver: preferences — never, always JIDs, roster; not archived means not stamped") {
    fixture f;
    auto set = f.ask("<iq type='set' id='p' from='bob@example.org/desk' to='bob@example.org'>"
                     "<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>carol@example.net/x</jid></always>"
                     "<never><jid>alice@example.org</jid></never></prefs></iq>",
                     "bob@example.org");
    CHECK(set.reply.type() == "result");
    auto prefs = mam::parse_prefs(set.reply.element().child("prefs"));
    REQUIRE(prefs);
    CHECK(prefs->default_mode == "roster");
    CHECK(prefs->always == std::vector<std::string>{"carol@example.net"});
    CHECK(prefs->never == std::vector<std::string>{"alice@example.org"});

    const stanza from_alice = f.receive(chat(alice, "bob@example.org", "never"));
    CHECK(from_alice.element().child("stanza-id").empty());
    f.receive(chat("carol@example.net/x", "bob@example.org", "always"));
    f.receive(chat("dave@example.net/x", "bob@example.org", "not in the roster"));
    storage::roster_item dave;
    dave.contact = "dave@example.net";
    REQUIRE(run_sync(f.store.run([dave](storage::store& s) { return s.put_roster_item("example.org", "bob", dave); })));
    f.receive(chat("dave@example.net/x", "bob@example.org", "in the roster now"));
    CHECK(fixture::bodies(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>")) ==
          std::vector<std::string>{"always", "in the roster now"});

    auto got = f.ask("<iq type='get' id='p' from='bob@example.org/desk' to='bob@example.org'>"
                     "<prefs xmlns='urn:xmpp:mam:2'/></iq>",
                     "bob@example.org");
    CHECK(mam::parse_prefs(got.reply.element().child("prefs")) == prefs);
    // Defaults come from the configuration until the account sets its own.
    got = f.ask("<iq type='get' id='p' from='alice@example.org/phone' to='alice@example.org'>"
                "<prefs xmlns='urn:xmpp:mam:2'/></iq>",
                "alice@example.org");
    CHECK(std::string_view(got.reply.element().child("prefs").attribute("default").value()) == "always");
    auto bad = f.ask("<iq type='set' id='p' from='bob@example.org/desk' to='bob@example.org'>"
                     "<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>",
                     "bob@example.org");
    CHECK(fixture::condition(bad.reply) == "bad-request");
}

TEST_CASE("mam_queries: RSM paging, fin, count, the page cap, errors, and only one's own archive") {
    fixture f;
    f.cfg.max_page = 4;
    f.cfg.default_page = 3;
    for (int i = 0; i < 10; ++i) {
        f.receive(chat(alice, "bob@example.org", "m" + std::to_string(i)));
    }
    auto page = f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>");
    CHECK(fixture::bodies(page) == std::vector<std::string>{"m0", "m1", "m2"});  // the default page
    auto fin = page.reply.element().child("fin");
    CHECK(std::string_view(fin.attribute("xmlns").value()) == mam::ns);
    CHECK_FALSE(fin.attribute("complete"));
    const auto set = mam::parse_rsm_result(fin.child("set"));
    REQUIRE(set);
    CHECK(set->first == page.results.front().element().child("result").attribute("id").value());
    CHECK(set->last == page.results.back().element().child("result").attribute("id").value());

    // Cut to max_page, then forward from the last.
    page = f.query(bob, "bob@example.org",
                   "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>50</max>"
                   "<after>" + set->last + "</after></set></query>");
    CHECK(fixture::bodies(page) == std::vector<std::string>{"m3", "m4", "m5", "m6"});
    // The last page, backward.
    page = f.query(bob, "bob@example.org",
                   "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>4</max><before/>"
                   "</set></query>");
    CHECK(fixture::bodies(page) == std::vector<std::string>{"m6", "m7", "m8", "m9"});
    CHECK_FALSE(page.reply.element().child("fin").attribute("complete"));
    // Count alone.
    page = f.query(bob, "bob@example.org",
                   "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>"
                   "</query>");
    CHECK(page.results.empty());
    CHECK(mam::parse_rsm_result(page.reply.element().child("fin").child("set"))->count == 10);
    // with someone else: nothing, complete.
    page = f.query(bob, "bob@example.org",
                   "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
                   "<value>urn:xmpp:mam:2</value></field><field var='with'><value>carol@example.net/x</value></field>"
                   "</x></query>");
    CHECK(page.results.empty());
    CHECK(std::string_view(page.reply.element().child("fin").attribute("complete").value()) == "true");

    // Errors.
    for (const char* after : {"12345", "nonsense"}) {
        page = f.query(bob, "bob@example.org",
                       std::string("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>") +
                           after + "</after></set></query>");
        CHECK(fixture::condition(page.reply) == "item-not-found");
        CHECK(page.results.empty());
    }
    page = f.query(bob, "bob@example.org",
                   "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
                   "<value>urn:xmpp:mam:2</value></field><field var='colour'><value>red</value></field></x></query>");
    CHECK(fixture::condition(page.reply) == "bad-request");
    // Someone else's archive: what a missing account answers, so nothing tells them apart.
    page = f.query(alice, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>");
    CHECK(fixture::condition(page.reply) == "service-unavailable");
    CHECK(page.results.empty());
    page = f.query(alice, "example.org", "<query xmlns='urn:xmpp:mam:2'/>");
    CHECK(fixture::condition(page.reply) == "service-unavailable");
    // The form.
    auto form = f.ask("<iq type='get' id='f' from='bob@example.org/desk' to='bob@example.org'>"
                      "<query xmlns='urn:xmpp:mam:2'/></iq>",
                      "bob@example.org");
    CHECK(form.reply.type() == "result");
    CHECK(form.reply.element().child("query").child("x"));
    // Not XEP-0313's business.
    outgoing out;
    CHECK_FALSE(run_sync(f.queries.handle_iq(
        make_stanza("<iq type='get' id='v' from='bob@example.org/desk' to='bob@example.org'><vCard xmlns='vcard-temp'/></iq>"),
        parse_jid("bob@example.org"), out)));
}

TEST_CASE("mam_queries: a page of large messages stops before it would overflow the session's outbox") {
    fixture f;  // 4096 bytes a page
    for (int i = 0; i < 6; ++i) {
        f.receive(chat(alice, "bob@example.org", std::to_string(i) + std::string(1000, 'x')));
    }
    auto page = f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>");
    REQUIRE(page.results.size() == 2);
    CHECK_FALSE(page.reply.element().child("fin").attribute("complete"));
    const auto last = mam::parse_rsm_result(page.reply.element().child("fin").child("set"))->last;
    page = f.query(bob, "bob@example.org",
                   "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>" + last +
                       "</after></set></query>");
    CHECK(page.results.size() == 2);
    CHECK(fixture::bodies(page)[0].starts_with("2"));
    // Backward: the newest of the page are kept.
    page = f.query(bob, "bob@example.org",
                   "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><before/></set></query>");
    REQUIRE(page.results.size() == 2);
    CHECK(fixture::bodies(page)[0].starts_with("4"));
    CHECK(fixture::bodies(page)[1].starts_with("5"));
}

TEST_CASE("archiver: disabled archives nothing but still strips forgeries; the sweep applies the cap") {
    fixture f;
    f.cfg.enabled = false;
    const stanza got = f.receive(chat(alice, "bob@example.org", "hi",
                                      "<stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.org' id='forged'/>"));
    CHECK(got.element().child("stanza-id").empty());
    f.cfg.enabled = true;
    for (int i = 0; i < 5; ++i) {
        f.receive(chat(alice, "bob@example.org", "m" + std::to_string(i)));
    }
    f.cfg.max_items_per_user = 2;
    run_sync(f.archive.sweep());
    CHECK(fixture::bodies(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>")) ==
          std::vector<std::string>{"m3", "m4"});
    // Retention: an item of two days ago goes, what was archived just now stays.
    const std::int64_t two_days_ago = now_us() - std::int64_t{2} * 86400 * 1000000;
    storage::archived_message old{two_days_ago, "alice@example.org", storage::archive_direction::incoming,
                                  chat(alice, "bob@example.org", "old")};
    REQUIRE(run_sync(f.store.run([old](storage::store& s) { return s.append_archive("example.org", "bob", old); })));
    CHECK(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>").results.size() == 3);
    f.cfg.retention_days = 1;
    run_sync(f.archive.sweep());
    CHECK(fixture::bodies(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>")) ==
          std::vector<std::string>{"m3", "m4"});
}

TEST_CASE("archiver: after the first sweep, the cap looks only at accounts that archived something since") {
    fixture f;
    f.cfg.max_items_per_user = 2;
    run_sync(f.archive.sweep());  // the first sweep after a start looks at every account
    // Written behind the archiver's back (another hushd, say): bob's archive is over the cap, but untouched here.
    for (int i = 0; i < 4; ++i) {
        storage::archived_message item{now_us() - 1000 + i, "carol@example.org", storage::archive_direction::incoming,
                                       chat("carol@example.org/x", "bob@example.org", "b" + std::to_string(i))};
        REQUIRE(run_sync(f.store.run([item](storage::store& s) { return s.append_archive("example.org", "bob", item); })));
    }
    for (int i = 0; i < 4; ++i) {
        f.receive(chat(bob, "alice@example.org", "a" + std::to_string(i)));
    }
    run_sync(f.archive.sweep());
    CHECK(fixture::bodies(f.query(alice, "alice@example.org", "<query xmlns='urn:xmpp:mam:2'/>")) ==
          std::vector<std::string>{"a2", "a3"});
    CHECK(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>").results.size() == 4);
    f.receive(chat(alice, "bob@example.org", "now bob archives too"));
    run_sync(f.archive.sweep());
    CHECK(fixture::bodies(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>")) ==
          std::vector<std::string>{"b3", "now bob archives too"});
}

TEST_CASE("archiver: a server-made message — released when held: archived; redelivered (XEP-0198): not again") {
    fixture f;
    // Released after a challenge: the router routes it itself, without a stanza-id of ours: archived now.
    stanza released = make_stanza(chat("mallory@example.net/x", "bob@example.org", "held until approved"));
    const auto first = run_sync(f.archive.inbound(released, parse_jid("mallory@example.net/x"),
                                                  parse_jid("bob@example.org"), true));
    REQUIRE(first);
    CHECK(mam::stanza_id(released, "bob@example.org") == std::to_string(*first));
    // The copy a cut session never acknowledged, routed to the account again: in the archive already.
    stanza again = stanza::parse(released.serialize());
    CHECK_FALSE(run_sync(f.archive.inbound(again, parse_jid("mallory@example.net/x"), parse_jid("bob@example.org"),
                                           true)));
    CHECK(mam::stanza_id(again, "bob@example.org") == std::to_string(*first));
    CHECK(fixture::bodies(f.query(bob, "bob@example.org", "<query xmlns='urn:xmpp:mam:2'/>")) ==
          std::vector<std::string>{"held until approved"});
    // From outside, the same id is a forgery: stripped (the router does it before the chain can hold the message).
    stanza forged = stanza::parse(released.serialize());
    CHECK(f.archive.strip_forged(forged, parse_jid("mallory@example.net/x"), parse_jid("bob@example.org")) == 1);
    CHECK(mam::stanza_id(forged, "bob@example.org").empty());
}

namespace {

std::string form(std::string_view fields) {
    return "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>" +
           std::string(fields) + "</x>";
}

std::string ids_field(const std::vector<std::string>& ids) {
    std::string out = "<field var='ids'>";
    for (const auto& id : ids) {
        out += "<value>" + id + "</value>";
    }
    return out + "</field>";
}

}  // namespace

TEST_CASE("mam_queries: ids — bounded, parsed strictly, counted; both after-id and <after/> must exist; max 0") {
    fixture f;
    f.cfg.max_page = 4;
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
        const stanza got = f.receive(chat(i % 2 == 0 ? alice : "carol@example.net/x", "bob@example.org",
                                          "m" + std::to_string(i)));
        ids.push_back(mam::stanza_id(got, "bob@example.org"));
    }
    auto query = [&](std::string_view fields, std::string_view set = {}) {
        return f.query(bob, "bob@example.org",
                       "<query xmlns='urn:xmpp:mam:2'>" + form(fields) +
                           (set.empty() ? std::string() : "<set xmlns='http://jabber.org/protocol/rsm'>" +
                                                              std::string(set) + "</set>") +
                           "</query>");
    };
    // More ids than a page: refused, not cut.
    auto page = query(ids_field({ids[0], ids[1], ids[2], ids[3], ids[4]}));
    CHECK(fixture::condition(page.reply) == "policy-violation");
    // An id that is no archive id: bad-request, not silently dropped.
    page = query(ids_field({ids[0], "nonsense"}));
    CHECK(fixture::condition(page.reply) == "bad-request");
    // An id that is ours but names nothing is just not found.
    page = query(ids_field({ids[0], "12345", ids[2]}));
    CHECK(fixture::bodies(page) == std::vector<std::string>{"m0", "m2"});
    // <count/> counts the listed items (within `with`), not the whole archive.
    page = query(ids_field({ids[0], ids[1], ids[2], "12345"}), "<max>0</max>");
    CHECK(page.results.empty());
    CHECK(mam::parse_rsm_result(page.reply.element().child("fin").child("set"))->count == 3);
    CHECK_FALSE(page.reply.element().child("fin").attribute("complete"));  // there are items past the empty page
    const std::string alices = ids_field({ids[0], ids[1], ids[2]}) +
                               "<field var='with'><value>alice@example.org</value></field>";
    page = query(alices, "<max>0</max>");
    CHECK(mam::parse_rsm_result(page.reply.element().child("fin").child("set"))->count == 2);
    page = query(alices, "<max>1</max>");
    CHECK(fixture::bodies(page) == std::vector<std::string>{"m0"});
    CHECK_FALSE(page.reply.element().child("fin").attribute("complete"));
    // max 0 on an empty result set: complete (XEP-0313: the results were not limited by the page size).
    page = query("<field var='with'><value>dave@example.net</value></field>", "<max>0</max>");
    CHECK(page.reply.element().child("fin").attribute("complete"));
    CHECK(mam::parse_rsm_result(page.reply.element().child("fin").child("set"))->count == 0);
    // after-id and <after/> together: both must name items, not only the tighter one.
    page = query("<field var='after-id'><value>12345</value></field>", "<after>" + ids[3] + "</after>");
    CHECK(fixture::condition(page.reply) == "item-not-found");
    page = query("<field var='before-id'><value>" + ids[2] + "</value></field>", "<before>12345</before>");
    CHECK(fixture::condition(page.reply) == "item-not-found");
    page = query("<field var='after-id'><value>" + ids[1] + "</value></field>", "<after>" + ids[3] + "</after>");
    CHECK(fixture::bodies(page) == std::vector<std::string>{"m4", "m5"});
    // An impossible date is a bad request.
    page = query("<field var='start'><value>2023-02-29T00:00:00Z</value></field>");
    CHECK(fixture::condition(page.reply) == "bad-request");
}

TEST_CASE("mam_queries: the preference lists are bounded") {
    fixture f;
    auto prefs_with = [&](std::size_t n) {
        std::string always;
        for (std::size_t i = 0; i < n; ++i) {
            always += "<jid>u" + std::to_string(i) + "@example.net</jid>";
        }
        return f.ask("<iq type='set' id='p' from='bob@example.org/desk' to='bob@example.org'>"
                     "<prefs xmlns='urn:xmpp:mam:2' default='roster'><always>" + always + "</always></prefs></iq>",
                     "bob@example.org");
    };
    CHECK(prefs_with(mam_queries::max_prefs_jids).reply.type() == "result");
    CHECK(fixture::condition(prefs_with(mam_queries::max_prefs_jids + 1).reply) == "not-acceptable");
}
