// Per-account data storage tests (migration 2): privacy lists and settings, the XEP-0191 blocklist, XML documents,
// last activity, and that delete_account removes all of an account's IM data. Every case runs against both
// backends (see test_backends.hpp).
#include <doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

using strings = std::vector<std::string>;

}  // namespace

// ---- privacy lists ----

TEST_CASE_TEMPLATE("privacy lists: put, replace, names, get, delete", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->privacy_list_names(domain, "alice")).empty());
    CHECK_FALSE(must(s->get_privacy_list(domain, "alice", "public")).has_value());

    const std::string unicode = "\xc3\xbcnic\xc3\xb8" "de \xe2\x9c\x93";
    must(s->put_privacy_list(domain, "alice", "public", "<list name='public'/>"));
    must(s->put_privacy_list(domain, "alice", unicode, "<list name='" + unicode + "'><item action='deny'/></list>"));
    must(s->put_privacy_list(domain, "alice", "Private", "<list name='Private'/>"));
    must(s->put_privacy_list(domain, "bob", "public", "<list name='public'>bob</list>"));
    // Byte-wise order.
    CHECK(must(s->privacy_list_names(domain, "alice")) == strings{"Private", "public", unicode});
    CHECK(must(s->get_privacy_list(domain, "alice", unicode)) ==
          std::optional<std::string>("<list name='" + unicode + "'><item action='deny'/></list>"));

    must(s->put_privacy_list(domain, "alice", "public", "<list name='public'><item action='allow'/></list>"));
    CHECK(must(s->get_privacy_list(domain, "alice", "public")) ==
          std::optional<std::string>("<list name='public'><item action='allow'/></list>"));
    CHECK(must(s->privacy_list_names(domain, "alice")).size() == 3);
    CHECK(must(s->get_privacy_list(domain, "bob", "public")) ==
          std::optional<std::string>("<list name='public'>bob</list>"));

    CHECK(must(s->delete_privacy_list(domain, "alice", "public")));
    CHECK_FALSE(must(s->delete_privacy_list(domain, "alice", "public")));
    CHECK_FALSE(must(s->delete_privacy_list(domain, "alice", "never")));
    CHECK_FALSE(must(s->get_privacy_list(domain, "alice", "public")).has_value());
    CHECK(must(s->privacy_list_names(domain, "alice")) == strings{"Private", unicode});
    CHECK(must(s->get_privacy_list(domain, "bob", "public")).has_value());  // bob's list of that name stays
    CHECK_FALSE(s->put_privacy_list(domain, "nobody", "public", "<list/>").has_value());
}

TEST_CASE_TEMPLATE("privacy lists: the default list, cleared when that list is deleted", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK_FALSE(must(s->default_privacy_list(domain, "alice")).has_value());
    must(s->set_default_privacy_list(domain, "alice", ""));  // clearing what was never set is fine
    CHECK_FALSE(must(s->default_privacy_list(domain, "alice")).has_value());

    must(s->put_privacy_list(domain, "alice", "work", "<list name='work'/>"));
    must(s->put_privacy_list(domain, "alice", "home", "<list name='home'/>"));
    must(s->put_privacy_list(domain, "bob", "work", "<list name='work'/>"));

    // Only an existing list of this account can be the default.
    auto refused = s->set_default_privacy_list(domain, "alice", "missing");
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().message.find("missing") != std::string::npos);
    CHECK_FALSE(must(s->default_privacy_list(domain, "alice")).has_value());

    must(s->set_default_privacy_list(domain, "alice", "work"));
    must(s->set_default_privacy_list(domain, "bob", "work"));
    CHECK(must(s->default_privacy_list(domain, "alice")) == std::optional<std::string>("work"));
    must(s->set_default_privacy_list(domain, "alice", "home"));
    CHECK(must(s->default_privacy_list(domain, "alice")) == std::optional<std::string>("home"));
    CHECK_FALSE(s->set_default_privacy_list(domain, "alice", "missing").has_value());
    CHECK(must(s->default_privacy_list(domain, "alice")) == std::optional<std::string>("home"));  // unchanged

    // Replacing the default list keeps it the default; deleting another list leaves it alone.
    must(s->put_privacy_list(domain, "alice", "home", "<list name='home'><item action='deny'/></list>"));
    CHECK(must(s->delete_privacy_list(domain, "alice", "work")));
    CHECK(must(s->default_privacy_list(domain, "alice")) == std::optional<std::string>("home"));
    CHECK(must(s->default_privacy_list(domain, "bob")) == std::optional<std::string>("work"));

    // Deleting the default list clears the default.
    CHECK(must(s->delete_privacy_list(domain, "alice", "home")));
    CHECK_FALSE(must(s->default_privacy_list(domain, "alice")).has_value());
    CHECK(must(s->privacy_list_names(domain, "alice")).empty());

    // An empty name clears it explicitly.
    must(s->set_default_privacy_list(domain, "bob", ""));
    CHECK_FALSE(must(s->default_privacy_list(domain, "bob")).has_value());
    CHECK(must(s->get_privacy_list(domain, "bob", "work")).has_value());  // the list itself stays
}

// ---- blocklist ----

TEST_CASE_TEMPLATE("blocklist: add is idempotent, remove some or all", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->get_blocklist(domain, "alice")).empty());
    must(s->add_blocks(domain, "alice", {}));
    must(s->remove_blocks(domain, "alice", {"never@example.org"}));
    CHECK(must(s->get_blocklist(domain, "alice")).empty());

    const std::string unicode = "sp\xc3\xa4m@\xe4\xbe\x8b\xe3\x81\x88.jp";
    must(s->add_blocks(domain, "alice", {"spam.example", "eve@example.org/phone", "eve@example.org"}));
    must(s->add_blocks(domain, "alice", {"eve@example.org", unicode, unicode}));  // repeats are fine
    must(s->add_blocks(domain, "bob", {"eve@example.org"}));
    CHECK(must(s->get_blocklist(domain, "alice")) ==
          strings{"eve@example.org", "eve@example.org/phone", "spam.example", unicode});

    must(s->remove_blocks(domain, "alice", {"eve@example.org", "not-blocked@example.org", unicode}));
    CHECK(must(s->get_blocklist(domain, "alice")) == strings{"eve@example.org/phone", "spam.example"});

    // An empty list unblocks everything, for this account only.
    must(s->remove_blocks(domain, "alice", {}));
    CHECK(must(s->get_blocklist(domain, "alice")).empty());
    CHECK(must(s->get_blocklist(domain, "bob")) == strings{"eve@example.org"});
    CHECK_FALSE(s->add_blocks(domain, "nobody", {"eve@example.org"}).has_value());
}

// ---- documents and last activity ----

TEST_CASE_TEMPLATE("documents: per key, replaced on put", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const std::string vcard = "<vCard xmlns='vcard-temp'><FN>J\xc3\xbcrgen \xf0\x9f\x8e\x89</FN></vCard>";
    const std::string bookmarks_key = "private:storage storage:bookmarks";
    CHECK_FALSE(must(s->get_document(domain, "alice", "vcard")).has_value());
    must(s->put_document(domain, "alice", "vcard", vcard));
    must(s->put_document(domain, "alice", bookmarks_key, "<storage xmlns='storage:bookmarks'/>"));
    must(s->put_document(domain, "bob", "vcard", "<vCard xmlns='vcard-temp'/>"));
    CHECK(must(s->get_document(domain, "alice", "vcard")) == std::optional<std::string>(vcard));
    CHECK(must(s->get_document(domain, "alice", bookmarks_key)) ==
          std::optional<std::string>("<storage xmlns='storage:bookmarks'/>"));
    CHECK_FALSE(must(s->get_document(domain, "alice", "VCARD")).has_value());  // keys are exact

    must(s->put_document(domain, "alice", "vcard", "<vCard xmlns='vcard-temp'><FN>New</FN></vCard>"));
    CHECK(must(s->get_document(domain, "alice", "vcard")) ==
          std::optional<std::string>("<vCard xmlns='vcard-temp'><FN>New</FN></vCard>"));
    CHECK(must(s->get_document(domain, "bob", "vcard")) == std::optional<std::string>("<vCard xmlns='vcard-temp'/>"));
    must(s->put_document(domain, "alice", "vcard", ""));
    CHECK(must(s->get_document(domain, "alice", "vcard")) == std::optional<std::string>(""));
    CHECK_FALSE(s->put_document(domain, "nobody", "vcard", vcard).has_value());
}

TEST_CASE_TEMPLATE("documents: keys by prefix (no LIKE wildcards), and deletion", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_document(domain, "alice", "antispim:held:mallory@spam.test", "<held/>"));
    must(s->put_document(domain, "alice", "antispim:held:eve_x@spam.test", "<held/>"));
    must(s->put_document(domain, "alice", "antispim:heldX", "<x/>"));
    must(s->put_document(domain, "alice", "antispim:state:eve_x@spam.test", "<sender/>"));
    must(s->put_document(domain, "bob", "antispim:held:other@spam.test", "<held/>"));
    CHECK(must(s->document_keys(domain, "alice", "antispim:held:")) ==
          std::vector<std::string>{"antispim:held:eve_x@spam.test", "antispim:held:mallory@spam.test"});
    CHECK(must(s->document_keys(domain, "alice", "antispim:held:eve_")) ==
          std::vector<std::string>{"antispim:held:eve_x@spam.test"});
    CHECK(must(s->document_keys(domain, "alice", "antispim:held:eve%")).empty());
    CHECK(must(s->delete_document(domain, "alice", "antispim:held:eve_x@spam.test")));
    CHECK_FALSE(must(s->delete_document(domain, "alice", "antispim:held:eve_x@spam.test")));
    CHECK(must(s->document_keys(domain, "alice", "antispim:held:")) ==
          std::vector<std::string>{"antispim:held:mallory@spam.test"});
    CHECK(must(s->count_documents("antispim:held:")) == 2);  // over all accounts
    CHECK(must(s->count_documents("antispim:nothing:")) == 0);
}

TEST_CASE_TEMPLATE("server blocklist: put replaces, expired entries are left out, remove", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK(must(s->list_blocklist(0)).empty());
    const blocklist_entry spam{"domain", "spam.test", "open registration, invites", "admin", 100, 0, false};
    const blocklist_entry bot{"jid", "bot@other.test", "reported", "report", 200, 1000, true};
    const blocklist_entry range{"ip", "192.0.2.0/24", "flood", "dos detector", 300, 2000, false, "greylist"};
    must(s->put_blocklist_entry(spam));
    must(s->put_blocklist_entry(bot));
    must(s->put_blocklist_entry(range));
    CHECK(must(s->list_blocklist(0)) == std::vector<blocklist_entry>{spam, range, bot});  // by kind, value
    CHECK(must(s->list_blocklist(1500)) == std::vector<blocklist_entry>{spam, range});    // bot expired
    blocklist_entry again = spam;
    again.reason = "still spamming";
    again.contacts_too = true;
    must(s->put_blocklist_entry(again));
    CHECK(must(s->list_blocklist(1500)).front() == again);
    CHECK(must(s->remove_blocklist_entry("domain", "spam.test")));
    CHECK_FALSE(must(s->remove_blocklist_entry("domain", "spam.test")));
    CHECK(must(s->list_blocklist(0)) == std::vector<blocklist_entry>{range, bot});
}

TEST_CASE_TEMPLATE("admin tokens: by digest, replaced by name, removed", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_admin_token("ops", "aa11", 10));
    must(s->put_admin_token("ci", "bb22", 20));
    CHECK(must(s->admin_token_name("aa11")) == std::optional<std::string>("ops"));
    CHECK_FALSE(must(s->admin_token_name("cc33")).has_value());
    must(s->put_admin_token("ops", "dd44", 30));  // rotated
    CHECK_FALSE(must(s->admin_token_name("aa11")).has_value());
    CHECK(must(s->list_admin_tokens()) ==
          std::vector<std::pair<std::string, std::int64_t>>{{"ci", 20}, {"ops", 30}});
    CHECK(must(s->remove_admin_token("ci")));
    CHECK_FALSE(must(s->remove_admin_token("ci")));
    CHECK_FALSE(must(s->admin_token_name("bb22")).has_value());
}

TEST_CASE_TEMPLATE("spam votes: weighted distinct voters per sender, judged senders and voters per domain", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    using tally = spam_vote_tally;
    auto same = [](const tally& a, const tally& b) {
        return a.sender_weight == b.sender_weight && a.domain_senders == b.domain_senders &&
               a.domain_weight == b.domain_weight;
    };
    CHECK(same(must(s->tally_spam_votes("bot@spam.test", "spam.test", 0)), tally{0, 0, 0}));
    must(s->put_spam_vote({"alice@example.org", "bot@spam.test", "spam.test", "block", 100, 100}));
    must(s->put_spam_vote({"alice@example.org", "bot@spam.test", "spam.test", "report", 110, 40}));  // same voter
    must(s->put_spam_vote({"bob@example.org", "bot@spam.test", "spam.test", "lockout", 120, 50}));
    must(s->put_spam_vote({"bob@example.org", "bot2@spam.test", "spam.test", "block", 50, 50}));
    // alice counts once, with her largest weight; bob once for the domain although he judged two of its senders.
    CHECK(same(must(s->tally_spam_votes("bot@spam.test", "spam.test", 0)), tally{150, 2, 150}));
    CHECK(same(must(s->tally_spam_votes("bot@spam.test", "spam.test", 115)), tally{50, 1, 50}));  // bob's is recent
    CHECK(same(must(s->tally_spam_votes("bot2@spam.test", "spam.test", 60)), tally{0, 1, 150}));
    must(s->put_spam_vote({"bob@example.org", "bot2@spam.test", "spam.test", "block", 130, 50}));  // refreshed
    CHECK(same(must(s->tally_spam_votes("bot2@spam.test", "spam.test", 60)), tally{50, 2, 150}));
    // A voter of no standing is kept but judges no sender of the domain.
    must(s->put_spam_vote({"carol@example.org", "bot3@spam.test", "spam.test", "block", 140, 0}));
    CHECK(same(must(s->tally_spam_votes("bot3@spam.test", "spam.test", 60)), tally{0, 2, 150}));
    CHECK(same(must(s->tally_spam_votes("x@other.test", "other.test", 0)), tally{0, 0, 0}));
}

TEST_CASE_TEMPLATE("spam reports: stored with stanza ids, newest first", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    spam_report first{0, "alice@example.org", "bot@spam.test", "spam", "buy now", {"id-1", "id-2"}, 100};
    spam_report second{0, "bob@example.org", "troll@other.test", "abuse", "", {}, 200};
    first.id = must(s->add_spam_report(first));
    second.id = must(s->add_spam_report(second));
    CHECK(second.id > first.id);
    CHECK(must(s->list_spam_reports(10)) == std::vector<spam_report>{second, first});
    CHECK(must(s->list_spam_reports(1)) == std::vector<spam_report>{second});
}

TEST_CASE_TEMPLATE("account flags: put replaces, get, list, remove", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK_FALSE(must(s->get_account_flag("alice@example.org")).has_value());
    const account_flag flagged{"alice@example.org", "flagged", "21 strangers in 1 h", 100};
    const account_flag suspended{"alice@example.org", "suspended", "51 strangers in 1 h", 200};
    const account_flag other{"bob@example.org", "flagged", "6 strangers in 1 h", 150};
    must(s->put_account_flag(flagged));
    must(s->put_account_flag(other));
    CHECK(must(s->get_account_flag("alice@example.org")) == std::optional<account_flag>(flagged));
    must(s->put_account_flag(suspended));
    CHECK(must(s->list_account_flags()) == std::vector<account_flag>{suspended, other});
    CHECK(must(s->remove_account_flag("alice@example.org")));
    CHECK_FALSE(must(s->remove_account_flag("alice@example.org")));
    CHECK(must(s->list_account_flags()) == std::vector<account_flag>{other});
}

TEST_CASE_TEMPLATE("last activity: set and replaced", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    CHECK_FALSE(must(s->get_last_activity(domain, "alice")).has_value());
    must(s->set_last_activity(domain, "alice", {1700000000, "Gone fishing \xf0\x9f\x8e\xa3"}));
    must(s->set_last_activity(domain, "bob", {5, ""}));
    auto got = must(s->get_last_activity(domain, "alice"));
    REQUIRE(got);
    CHECK(got->logout_at == 1700000000);
    CHECK(got->status == "Gone fishing \xf0\x9f\x8e\xa3");
    must(s->set_last_activity(domain, "alice", {1800000000, ""}));
    got = must(s->get_last_activity(domain, "alice"));
    REQUIRE(got);
    CHECK(got->logout_at == 1800000000);
    CHECK(got->status.empty());
    CHECK(must(s->get_last_activity(domain, "bob"))->logout_at == 5);
    CHECK_FALSE(s->set_last_activity(domain, "nobody", {1, ""}).has_value());
}

// ---- account deletion ----

TEST_CASE_TEMPLATE("delete_account removes every IM table's rows of that account only", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    for (const std::string user : {"alice", "bob"}) {
        roster_item item;
        item.contact = "carol@example.org";
        item.groups = {"Friends", "Work"};
        must(s->put_roster_item(domain, user, item));
        item.contact = "dave@example.org";
        must(s->put_roster_item(domain, user, item));
        must(s->remove_roster_item(domain, user, "dave@example.org"));  // a tombstone too
        must(s->put_subscription_request(domain, user, {"erin@example.org", "<presence type='subscribe'/>", 1}));
        REQUIRE(must(s->store_offline_message(domain, user, "<message/>", 1, 10)));
        must(s->put_privacy_list(domain, user, "work", "<list name='work'/>"));
        must(s->put_privacy_list(domain, user, "home", "<list name='home'/>"));
        must(s->set_default_privacy_list(domain, user, "work"));  // the list the default points to goes as well
        must(s->add_blocks(domain, user, {"spam.example"}));
        must(s->put_document(domain, user, "vcard", "<vCard xmlns='vcard-temp'/>"));
        must(s->set_last_activity(domain, user, {1, "bye"}));
    }
    const strings tables{"roster_versions",  "roster_items", "roster_groups", "subscription_requests",
                         "offline_messages", "privacy_lists", "privacy_settings", "blocklist",
                         "documents",        "last_activity"};
    auto rows = [&](const std::string& table, const std::string& user) {
        // Out-of-band SQL with fixed test values.
        return backend.query_int("SELECT COUNT(*) FROM " + table + " WHERE domain = 'example.org' AND username = '" +
                                 user + "'");
    };
    for (const auto& table : tables) {
        CAPTURE(table);
        REQUIRE(rows(table, "alice") > 0);
    }

    REQUIRE(must(s->delete_account(domain, "alice")));
    for (const auto& table : tables) {
        CAPTURE(table);
        CHECK(rows(table, "alice") == 0);
        CHECK(rows(table, "bob") > 0);
    }

    // A new account of the same name starts empty.
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('n'))));
    CHECK(must(s->get_roster(domain, "alice")).empty());
    CHECK(must(s->roster_version(domain, "alice")) == 0);
    CHECK(must(s->roster_changes_since(domain, "alice", 0))->changed.empty());
    CHECK(must(s->get_subscription_requests(domain, "alice")).empty());
    CHECK(must(s->get_offline_messages(domain, "alice")).empty());
    CHECK(must(s->privacy_list_names(domain, "alice")).empty());
    CHECK_FALSE(must(s->default_privacy_list(domain, "alice")).has_value());
    CHECK(must(s->get_blocklist(domain, "alice")).empty());
    CHECK_FALSE(must(s->get_document(domain, "alice", "vcard")).has_value());
    CHECK_FALSE(must(s->get_last_activity(domain, "alice")).has_value());

    // Bob's data is intact.
    CHECK(must(s->get_roster(domain, "bob")).size() == 1);
    CHECK(must(s->roster_version(domain, "bob")) == 3);
    CHECK(must(s->default_privacy_list(domain, "bob")) == std::optional<std::string>("work"));
    CHECK(must(s->get_offline_messages(domain, "bob")).size() == 1);
}

// ---- document ages (migration 6) ----

TEST_CASE_TEMPLATE("documents: delete_documents_older_than, by prefix and age, over all accounts", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const auto before = now_unix();
    must(s->put_document(domain, "alice", "antispim:state:old@spam.test", "<sender/>"));
    must(s->put_document(domain, "alice", "antispim:state:new@spam.test", "<sender/>"));
    must(s->put_document(domain, "bob", "antispim:state:old@spam.test", "<sender/>"));
    must(s->put_document(domain, "bob", "antispim:stateX", "<x/>"));
    must(s->put_document(domain, "bob", "antispim:contact:old@spam.test", "<contact/>"));
    // put stamps the time it wrote.
    const auto stamped = backend.query_int(
        "SELECT MIN(updated_at) FROM documents WHERE doc_key = 'antispim:state:new@spam.test'");
    CHECK(stamped >= before);
    CHECK(stamped <= now_unix());
    backend.exec_raw("UPDATE documents SET updated_at = 100 WHERE doc_key LIKE '%old@spam.test' OR "
                     "doc_key = 'antispim:stateX'");

    CHECK(must(s->delete_documents_older_than("antispim:state:", 100, 10)) == 0);  // not older than 100
    CHECK(must(s->delete_documents_older_than("antispim:state:", 101, 1)) == 1);   // the limit holds
    CHECK(must(s->delete_documents_older_than("antispim:state:", 101, 10)) == 1);
    CHECK(must(s->delete_documents_older_than("antispim:state:", 101, 10)) == 0);
    CHECK_FALSE(must(s->get_document(domain, "alice", "antispim:state:old@spam.test")).has_value());
    CHECK_FALSE(must(s->get_document(domain, "bob", "antispim:state:old@spam.test")).has_value());
    CHECK(must(s->get_document(domain, "alice", "antispim:state:new@spam.test")).has_value());  // fresh
    CHECK(must(s->get_document(domain, "bob", "antispim:stateX")).has_value());                // other prefix
    CHECK(must(s->get_document(domain, "bob", "antispim:contact:old@spam.test")).has_value());

    // Writing again makes it young.
    must(s->put_document(domain, "bob", "antispim:contact:old@spam.test", "<contact/>"));
    CHECK(must(s->delete_documents_older_than("antispim:contact:", 101, 10)) == 0);
}

TEST_CASE_TEMPLATE("migration 6: documents already there count as written when it ran", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->put_document(domain, "alice", "antispim:contact:x@spam.test", "<contact/>"));
    // Back to schema 5, the document kept.
    backend.exec_raw("DROP TABLE upload_files; DROP TABLE muc_affiliations; DROP TABLE muc_service_bans; DROP TABLE muc_rooms; "
                     "DROP TABLE pubsub_affiliations; DROP TABLE pubsub_subscriptions; DROP TABLE pubsub_items; "
                     "DROP TABLE pubsub_nodes; DROP TABLE fast_tokens; DROP INDEX offline_messages_by_archive_item; "
                     "ALTER TABLE offline_messages DROP COLUMN archive_id; "
                     "DROP TABLE message_archive_prefs; DROP TABLE message_archive; "
                     "DROP TABLE pending_accounts; DROP TABLE registration_invites; "
                     "DROP TABLE held_stanzas; DROP INDEX documents_by_age; "
                     "ALTER TABLE documents DROP COLUMN updated_at; ALTER TABLE server_blocklist DROP COLUMN trust; "
                     "ALTER TABLE spam_votes DROP COLUMN weight; DROP TABLE content_tokens; DROP TABLE content_totals; "
                     "DELETE FROM schema_version WHERE version >= 6");
    auto old = open_store(backend.options());
    CHECK(must(old->schema_version()) == 5);
    const auto before = now_unix();
    CHECK(must(old->migrate()) == latest_schema_version());
    const auto stamped = backend.query_int("SELECT updated_at FROM documents");
    CHECK(stamped >= before);
    CHECK(stamped <= now_unix());
    CHECK(must(old->get_document(domain, "alice", "antispim:contact:x@spam.test")) ==
          std::optional<std::string>("<contact/>"));
}

TEST_CASE_TEMPLATE("migration 7: stored entries keep blocking, votes already cast count in full", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    // Back to version 6: the later migrations' tables go too, and migrate() brings them all back.
    backend.exec_raw("DROP TABLE upload_files; DROP TABLE muc_affiliations; DROP TABLE muc_service_bans; DROP TABLE muc_rooms; "
                     "DROP TABLE pubsub_affiliations; DROP TABLE pubsub_subscriptions; DROP TABLE pubsub_items; "
                     "DROP TABLE pubsub_nodes; DROP TABLE fast_tokens; DROP INDEX offline_messages_by_archive_item; "
                     "ALTER TABLE offline_messages DROP COLUMN archive_id; "
                     "DROP TABLE message_archive_prefs; DROP TABLE message_archive; "
                     "DROP TABLE pending_accounts; DROP TABLE registration_invites; "
                     "ALTER TABLE server_blocklist DROP COLUMN trust; ALTER TABLE spam_votes DROP COLUMN weight; "
                     "DROP TABLE content_tokens; DROP TABLE content_totals; DELETE FROM schema_version WHERE version >= 7");
    backend.exec_raw("INSERT INTO server_blocklist (kind, value, reason, source, added_at, expires_at, contacts_too) "
                     "VALUES ('domain', 'spam.test', 'old', 'admin', 1, 0, 0); "
                     "INSERT INTO spam_votes (voter, sender, sender_domain, kind, at) "
                     "VALUES ('alice@example.org', 'bot@spam.test', 'spam.test', 'block', 10)");
    auto old = open_store(backend.options());
    CHECK(must(old->schema_version()) == 6);
    CHECK(must(old->migrate()) == latest_schema_version());
    const auto entries = must(old->list_blocklist(0));
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].trust == "block");
    CHECK(must(old->tally_spam_votes("bot@spam.test", "spam.test", 0)).sender_weight == 100);
}
