// The MUC service's sync with storage (server/muc/muc_sync.cpp), as hushctl's offline edits reach a running hushd:
// a ban added in storage removes the banned occupant (301) and refuses its joins, one deleted there is lifted; a
// persistent room deleted from storage is not closed while its own last write may still be queued (30 s), and a
// temporary room (never stored) is never closed by it.
#include <doctest.h>

#include "server/muc/muc_service.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
using test::run_sync;

namespace {

constexpr const char* service = "conference.example.com";

struct fixture {
    test::temp_dir dir;
    storage::store_options options = test::sqlite_options(dir.path());
    storage::async_store store{options};
    muc_config cfg;
    std::unique_ptr<muc_service> muc;

    fixture() {
        cfg.services = {service};
        muc = std::make_unique<muc_service>(store, cfg, std::vector<std::string>{"example.com"},
                                            std::vector<std::string>{}, "secret");
        REQUIRE(run_sync(muc->load()));
    }

    std::vector<stanza> send(const std::string& xml, const std::string& from) {
        stanza s = stanza::parse(xml);
        outgoing out;
        run_sync(muc->handle(s, *jid::parse(from), *jid::parse(std::string(s.to())), out));
        return taken(out);
    }

    std::vector<stanza> sync() {
        outgoing out;
        run_sync(muc->sync_from_storage(out));
        return taken(out);
    }

    static std::vector<stanza> taken(outgoing& out) {
        std::vector<stanza> sent;
        for (auto& o : out.take()) {
            sent.push_back(std::move(o.content));
        }
        return sent;
    }

    // Joins (or creates) room@service as nick; the answers.
    std::vector<stanza> join(const std::string& room, const std::string& nick, const std::string& from) {
        return send("<presence to='" + room + "@" + service + "/" + nick +
                        "'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
                    from);
    }

    void create(const std::string& room, bool persistent) {
        join(room, "Owner", "alice@example.com/desk");
        auto answers = send("<iq type='set' id='c1' to='" + room + "@" + service +
                                "'><query xmlns='http://jabber.org/protocol/muc#owner'>"
                                "<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
                                "<field var='muc#roomconfig_persistentroom'><value>" +
                                std::string(persistent ? "1" : "0") + "</value></field></x></query></iq>",
                            "alice@example.com/desk");
        REQUIRE(answers.size() >= 1);
        REQUIRE(answers.back().type() == "result");
    }
};

bool has_status(const stanza& s, const std::string& code) {
    for (auto status : s.child("x", muc::user_ns).children("status")) {
        if (code == status.attribute("code").value()) {
            return true;
        }
    }
    return false;
}

bool joined(const std::vector<stanza>& answers, const std::string& session) {
    for (const auto& a : answers) {
        if (a.to() == session && a.type().empty() && has_status(a, "110")) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("a ban added in storage removes the occupant with 301; one deleted there is lifted") {
    fixture f;
    f.create("lobby", false);
    REQUIRE(joined(f.join("lobby", "Bob", "bob@example.com/desk"), "bob@example.com/desk"));
    CHECK(f.sync().empty());  // nothing changed in storage

    REQUIRE(run_sync(f.store.run([](storage::store& s) {
        return s.put_muc_service_ban({service, "bob@example.com", "spam", 1});
    })));
    const auto sent = f.sync();
    bool told_bob = false;
    bool told_alice = false;
    for (const auto& s : sent) {
        if (s.from() == std::string("lobby@") + service + "/Bob" && s.type() == "unavailable" && has_status(s, "301")) {
            told_bob = told_bob || s.to() == "bob@example.com/desk";
            told_alice = told_alice || s.to() == "alice@example.com/desk";
        }
    }
    CHECK(told_bob);
    CHECK(told_alice);
    CHECK(f.muc->service_bans(service) == std::vector<std::string>{"bob@example.com"});
    auto refused = f.join("lobby", "Bob", "bob@example.com/desk");
    REQUIRE(refused.size() == 1);
    CHECK(test::error_of(refused.front()).condition == "forbidden");
    CHECK(f.sync().empty());  // applied once

    REQUIRE(run_sync(f.store.run([](storage::store& s) { return s.delete_muc_service_ban(service, "bob@example.com"); })));
    CHECK(f.sync().empty());
    CHECK(f.muc->service_bans(service).empty());
    CHECK(joined(f.join("lobby", "Bob", "bob@example.com/desk"), "bob@example.com/desk"));
}

TEST_CASE("a ban the service made itself is not lifted by the sync") {
    fixture f;
    outgoing out;
    REQUIRE(run_sync(f.muc->ban(service, "mallory@evil.example", "spam", out)));
    f.sync();
    CHECK(f.muc->service_bans(service) == std::vector<std::string>{"mallory@evil.example"});
}

TEST_CASE("a persistent room just written is not closed by the sync; a temporary room never is") {
    fixture f;
    f.create("hall", true);
    f.create("side", false);
    REQUIRE(run_sync(f.store.run([](storage::store& s) { return s.delete_muc_room(service, "hall"); })));
    CHECK(f.sync().empty());
    CHECK(f.muc->rooms(service).size() == 2);
}
