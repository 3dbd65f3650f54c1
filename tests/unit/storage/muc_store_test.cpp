// XEP-0045 multi-user chat storage (migration 14): rooms (a replace keeps created_at and the affiliations), a room's
// deletion taking its affiliations, "none" deleting one, the lookup by JID over every service, service-wide bans, an
// account's affiliations going with the account (its rooms staying), and the migration on a fresh and on a version
// 13 database. Both backends.
#include <doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "storage/migrations.hpp"
#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

using names = std::vector<std::string>;

const std::string service = "conference.example.org";
const std::string other_service = "chat.example.org";

muc_room_record room_record(const std::string& svc, const std::string& room, const std::string& config = "c1") {
    return muc_room_record{svc, room, config, "welcome", "alice", 1700000000};
}

names room_names(const std::vector<muc_room_record>& rooms) {
    names out;
    for (const auto& r : rooms) {
        out.push_back(r.room);
    }
    return out;
}

names aff_keys(const std::vector<muc_affiliation_record>& affs) {
    names out;
    for (const auto& a : affs) {
        out.push_back(a.jid + " " + a.affiliation + " " + a.nick);
    }
    return out;
}

names aff_of_keys(const std::vector<std::pair<std::string, muc_affiliation_record>>& affs) {
    names out;
    for (const auto& [room_jid, a] : affs) {
        out.push_back(room_jid + " " + a.jid + " " + a.affiliation);
    }
    return out;
}

names ban_keys(const std::vector<muc_service_ban_record>& bans) {
    names out;
    for (const auto& b : bans) {
        out.push_back(b.service + " " + b.jid + " " + b.reason + " " + std::to_string(b.created_at));
    }
    return out;
}

}  // namespace

TEST_CASE_TEMPLATE("muc rooms: put, get, list, count; a replace keeps created_at and affiliations", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK_FALSE(must(s->get_muc_room(service, "lobby")).has_value());
    CHECK(must(s->list_muc_rooms(service)).empty());
    CHECK(must(s->count_muc_rooms(service)) == 0);

    must(s->put_muc_room(room_record(service, "lobby")));
    must(s->put_muc_room(room_record(service, "attic")));
    must(s->put_muc_room(room_record(other_service, "lobby", "elsewhere")));
    const auto got = must(s->get_muc_room(service, "lobby"));
    REQUIRE(got.has_value());
    CHECK(*got == room_record(service, "lobby"));
    CHECK(room_names(must(s->list_muc_rooms(service))) == names{"attic", "lobby"});
    CHECK(must(s->count_muc_rooms(service)) == 2);
    CHECK(must(s->count_muc_rooms(other_service)) == 1);
    CHECK(must(s->count_muc_rooms("muc.nowhere.org")) == 0);

    must(s->set_muc_affiliation(service, "lobby", {"alice@example.org", "owner", "Alice", ""}));
    auto changed = room_record(service, "lobby", "c2");
    changed.subject = "new topic";
    changed.subject_by = "bob";
    changed.created_at = 1800000000;  // ignored for an existing room
    must(s->put_muc_room(changed));
    const auto replaced = must(s->get_muc_room(service, "lobby"));
    REQUIRE(replaced.has_value());
    CHECK(replaced->config == "c2");
    CHECK(replaced->subject == "new topic");
    CHECK(replaced->subject_by == "bob");
    CHECK(replaced->created_at == 1700000000);
    CHECK(aff_keys(must(s->get_muc_affiliations(service, "lobby"))) == names{"alice@example.org owner Alice"});
    CHECK(must(s->count_muc_rooms(service)) == 2);
    CHECK(must(s->get_muc_room(other_service, "lobby"))->config == "elsewhere");  // another service's room

    // An empty subject is stored as such, not as a missing value.
    auto cleared = changed;
    cleared.subject.clear();
    cleared.subject_by.clear();
    must(s->put_muc_room(cleared));
    CHECK(must(s->get_muc_room(service, "lobby"))->subject.empty());
}

TEST_CASE_TEMPLATE("muc rooms: deleting a room takes its affiliations, not another room's", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    for (const auto* name : {"r1", "r2"}) {
        must(s->put_muc_room(room_record(service, name)));
        must(s->set_muc_affiliation(service, name, {"alice@example.org", "owner", "", ""}));
        must(s->set_muc_affiliation(service, name, {"bob@example.org", "member", "bob", ""}));
        // XEP-0313: the room's archive, under its JID (migration 15).
        must(s->append_archive(service, name, archived_message{1, std::string(name) + "@" + service + "/bob",
                                                               archive_direction::incoming, "<message/>"}));
    }
    CHECK(must(s->delete_muc_room(service, "r1")));
    CHECK(backend.query_int("SELECT COUNT(*) FROM message_archive WHERE username = 'r1'") == 0);  // gone with it
    CHECK(backend.query_int("SELECT COUNT(*) FROM message_archive WHERE username = 'r2'") == 1);
    CHECK_FALSE(must(s->delete_muc_room(service, "r1")));
    CHECK_FALSE(must(s->delete_muc_room(service, "never")));
    CHECK(backend.query_int("SELECT COUNT(*) FROM muc_affiliations WHERE room = 'r1'") == 0);
    CHECK(must(s->get_muc_affiliations(service, "r2")).size() == 2);
    CHECK(room_names(must(s->list_muc_rooms(service))) == names{"r2"});
    // A room made persistent again under the name starts without affiliations.
    must(s->put_muc_room(room_record(service, "r1")));
    CHECK(must(s->get_muc_affiliations(service, "r1")).empty());
}

TEST_CASE_TEMPLATE("muc affiliations: upsert, none deletes, ordered by jid, the room must exist", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_muc_room(room_record(service, "lobby")));
    must(s->set_muc_affiliation(service, "lobby", {"bob@example.org", "member", "bob", ""}));
    must(s->set_muc_affiliation(service, "lobby", {"alice@example.org", "owner", "", ""}));
    must(s->set_muc_affiliation(service, "lobby", {"spam.example", "outcast", "", "spammers"}));
    must(s->set_muc_affiliation(service, "lobby", {"bob@example.org", "admin", "bobby", "promoted"}));  // replaces
    const auto affs = must(s->get_muc_affiliations(service, "lobby"));
    CHECK(aff_keys(affs) == names{"alice@example.org owner ", "bob@example.org admin bobby", "spam.example outcast "});
    REQUIRE(affs.size() == 3);
    CHECK(affs[1] == muc_affiliation_record{"bob@example.org", "admin", "bobby", "promoted"});
    CHECK(affs[2].reason == "spammers");

    must(s->set_muc_affiliation(service, "lobby", {"bob@example.org", "none", "", ""}));
    must(s->set_muc_affiliation(service, "lobby", {"nobody@example.org", "none", "", ""}));  // nothing to delete: fine
    CHECK(aff_keys(must(s->get_muc_affiliations(service, "lobby"))) ==
          names{"alice@example.org owner ", "spam.example outcast "});

    // Not an affiliation, or a room that is not stored: an error, nothing written.
    CHECK_FALSE(s->set_muc_affiliation(service, "lobby", {"carol@example.org", "moderator", "", ""}).has_value());
    CHECK_FALSE(s->set_muc_affiliation(service, "nosuchroom", {"carol@example.org", "member", "", ""}).has_value());
    CHECK_FALSE(s->set_muc_affiliation(other_service, "lobby", {"carol@example.org", "member", "", ""}).has_value());
    CHECK(backend.query_int("SELECT COUNT(*) FROM muc_affiliations") == 2);
    CHECK(must(s->get_muc_affiliations(service, "nosuchroom")).empty());
}

TEST_CASE_TEMPLATE("muc affiliations of a JID: every room of every service, exact JID only", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_muc_room(room_record(service, "lobby")));
    must(s->put_muc_room(room_record(service, "attic")));
    must(s->put_muc_room(room_record(other_service, "cellar")));
    must(s->set_muc_affiliation(service, "lobby", {"bob@example.org", "member", "bob", ""}));
    must(s->set_muc_affiliation(service, "attic", {"bob@example.org", "owner", "", ""}));
    must(s->set_muc_affiliation(other_service, "cellar", {"bob@example.org", "outcast", "", "rude"}));
    must(s->set_muc_affiliation(service, "lobby", {"bobby@example.org", "member", "", ""}));
    must(s->set_muc_affiliation(service, "lobby", {"bob@example.org.evil", "member", "", ""}));
    must(s->set_muc_affiliation(service, "lobby", {"example.org", "member", "", ""}));

    // Ordered by service, then room: "chat..." before "conference...".
    CHECK(aff_of_keys(must(s->muc_affiliations_of("bob@example.org"))) ==
          names{"cellar@chat.example.org bob@example.org outcast", "attic@conference.example.org bob@example.org owner",
                "lobby@conference.example.org bob@example.org member"});
    const auto one = must(s->muc_affiliations_of("bob@example.org"));
    REQUIRE(one.size() == 3);
    CHECK(one[0].second == muc_affiliation_record{"bob@example.org", "outcast", "", "rude"});
    CHECK(one[2].second.nick == "bob");
    CHECK(aff_of_keys(must(s->muc_affiliations_of("example.org"))) ==
          names{"lobby@conference.example.org example.org member"});
    CHECK(must(s->muc_affiliations_of("carol@example.org")).empty());
}

TEST_CASE_TEMPLATE("muc service bans: new, existing (reason replaced, created_at kept), delete, per service", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->list_muc_service_bans(service)).empty());
    CHECK(must(s->put_muc_service_ban({service, "spam.example", "a spam server", 100})));
    CHECK(must(s->put_muc_service_ban({service, "eve@evil.example", "abuse", 200})));
    CHECK(must(s->put_muc_service_ban({other_service, "eve@evil.example", "elsewhere", 300})));
    CHECK_FALSE(must(s->put_muc_service_ban({service, "eve@evil.example", "more abuse", 999})));  // existed
    CHECK(ban_keys(must(s->list_muc_service_bans(service))) ==
          names{"conference.example.org eve@evil.example more abuse 200",
                "conference.example.org spam.example a spam server 100"});
    CHECK(ban_keys(must(s->list_muc_service_bans(other_service))) ==
          names{"chat.example.org eve@evil.example elsewhere 300"});

    CHECK(must(s->delete_muc_service_ban(service, "eve@evil.example")));
    CHECK_FALSE(must(s->delete_muc_service_ban(service, "eve@evil.example")));
    CHECK_FALSE(must(s->delete_muc_service_ban(service, "never@evil.example")));
    CHECK(ban_keys(must(s->list_muc_service_bans(service))) ==
          names{"conference.example.org spam.example a spam server 100"});
    CHECK(must(s->list_muc_service_bans(other_service)).size() == 1);
    // Banned again after the deletion: a new ban.
    CHECK(must(s->put_muc_service_ban({service, "eve@evil.example", "again", 400})));

    // Inside a transaction too (the update-then-insert nests as a savepoint).
    must(s->tentatively([&]() -> result<void> {
        auto put = s->put_muc_service_ban({service, "mallory@evil.example", "", 500});
        if (!put) {
            return hush::unexpected(put.error());
        }
        CHECK(*put);
        return {};
    }));
    CHECK(must(s->list_muc_service_bans(service)).size() == 3);
}

TEST_CASE_TEMPLATE("muc: an account's affiliations go with the account, its rooms stay", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_muc_room(room_record(service, "lobby")));
    must(s->put_muc_room(room_record(other_service, "cellar")));
    const std::vector<std::pair<std::string, std::string>> rooms{{service, "lobby"}, {other_service, "cellar"}};
    for (const auto& [svc, room] : rooms) {
        must(s->set_muc_affiliation(svc, room, {"alice@example.org", "owner", "Alice", ""}));
        must(s->set_muc_affiliation(svc, room, {"bob@example.org", "member", "bob", ""}));
        must(s->set_muc_affiliation(svc, room, {"alice@example.org.evil", "member", "", ""}));  // not hers
        must(s->set_muc_affiliation(svc, room, {"example.org", "member", "", ""}));  // her domain's, not hers
    }
    must(s->put_muc_service_ban({service, "alice@example.org", "kept: not an affiliation", 1}));
    must(s->put_muc_room(room_record(service, "banned-her")));
    must(s->set_muc_affiliation(service, "banned-her", {"alice@example.org", "outcast", "", "spam"}));

    REQUIRE(must(s->delete_account(domain, "alice")));
    // Only the ban stays: registering the name again must not lift it.
    const auto left = must(s->muc_affiliations_of("alice@example.org"));
    REQUIRE(left.size() == 1);
    CHECK(left[0].second.affiliation == "outcast");
    CHECK(must(s->count_muc_rooms(service)) == 2);
    CHECK(must(s->count_muc_rooms(other_service)) == 1);
    CHECK(aff_keys(must(s->get_muc_affiliations(service, "lobby"))) ==
          names{"alice@example.org.evil member ", "bob@example.org member bob", "example.org member "});
    CHECK(must(s->get_muc_affiliations(other_service, "cellar")).size() == 3);
    CHECK(must(s->list_muc_service_bans(service)).size() == 1);

    // Registered again, the name owns nothing (and is still banned where it was).
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));
    CHECK(must(s->muc_affiliations_of("alice@example.org")).size() == 1);

    // A failed deletion inside a transaction undoes the affiliations' deletion too.
    must(s->set_muc_affiliation(service, "lobby", {"alice@example.org", "owner", "", ""}));
    auto failed = s->atomically(domain, "alice", [&]() -> result<void> {
        if (auto deleted = s->delete_account(domain, "alice"); !deleted) {
            return hush::unexpected(deleted.error());
        }
        return hush::unexpected(error{"changed my mind"});
    });
    CHECK_FALSE(failed.has_value());
    CHECK(must(s->account_exists(domain, "alice")));
    CHECK(must(s->muc_affiliations_of("alice@example.org")).size() == 2);
}

TEST_CASE_TEMPLATE("muc: a denied pending account's affiliations go with it", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    backend.exec_raw("INSERT INTO pending_accounts (domain, username, requested_at, address) "
                     "VALUES ('example.org', 'bob', 0, '')");
    must(s->put_muc_room(room_record(service, "lobby")));
    must(s->set_muc_affiliation(service, "lobby", {"alice@example.org", "owner", "", ""}));
    must(s->set_muc_affiliation(service, "lobby", {"bob@example.org", "member", "", ""}));
    CHECK_FALSE(must(s->deny_pending(domain, "alice")));  // not pending: nothing goes
    CHECK(must(s->deny_pending(domain, "bob")));
    CHECK(aff_keys(must(s->get_muc_affiliations(service, "lobby"))) == names{"alice@example.org owner "});
}

TEST_CASE_TEMPLATE("muc: migration 14 applies on a fresh database and on one at version 13", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    REQUIRE(latest_schema_version() >= 14);
    {
        auto s = open_store(backend.options());
        CHECK(must(s->migrate()) == latest_schema_version());
        CHECK(must(s->schema_version()) == latest_schema_version());
        CHECK(backend.query_int("SELECT COUNT(*) FROM schema_version WHERE version = 14") == 1);
        for (const auto* table : {"muc_rooms", "muc_affiliations", "muc_service_bans"}) {
            CAPTURE(table);
            CHECK(backend.query_int(std::string("SELECT COUNT(*) FROM ") + table) == 0);
        }
        must(s->put_muc_room(room_record(service, "lobby")));
    }
    // Back to version 13 (what a database of the previous release holds), keeping the data of earlier migrations;
    // migrating again brings the MUC tables back, empty.
    backend.exec_raw("DROP TABLE upload_files; DROP TABLE muc_affiliations; DROP TABLE muc_service_bans; DROP TABLE muc_rooms; "
                     "DELETE FROM schema_version WHERE version >= 14");
    auto s = open_store(backend.options());
    CHECK(must(s->schema_version()) == 13);
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));
    CHECK(must(s->migrate()) == latest_schema_version());
    CHECK(must(s->account_exists(domain, "alice")));
    CHECK(must(s->count_muc_rooms(service)) == 0);
    must(s->put_muc_room(room_record(service, "lobby")));
    must(s->set_muc_affiliation(service, "lobby", {"alice@example.org", "owner", "", ""}));
    CHECK(must(s->muc_affiliations_of("alice@example.org")).size() == 1);
}
