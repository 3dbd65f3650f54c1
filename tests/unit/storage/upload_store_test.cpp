// XEP-0363 HTTP file upload storage (migration 16): a slot created only within the account's rate, pending and
// quota limits; the claim for the PUT single-use, with the right secret and before the deadline; stored files,
// expiry, listings and per-account usage; the account's rows going with the account. Both backends.
#include <doctest.h>

#include <string>
#include <vector>

#include "storage/migrations.hpp"
#include "storage/store.hpp"
#include "tests/unit/storage/test_backends.hpp"

namespace {

using namespace hush::storage;
using namespace hush::storage::testing;

constexpr std::int64_t now = 1800000000;

upload_record slot(const std::string& id, const std::string& user = "alice", std::int64_t size = 100,
                   std::int64_t created = now) {
    return upload_record{id,       std::string(64, 'd'), domain, user, "cat.jpg", size, "image/jpeg",
                         upload_state::pending, created, created + 300, 0};
}

std::string id_of(int n) {
    std::string id = std::to_string(n);
    return std::string(32 - id.size(), '0') + id;
}

const upload_limits roomy{1000000, 100, 100};

std::vector<std::string> ids(const std::vector<upload_record>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) {
        out.push_back(r.id);
    }
    return out;
}

}  // namespace

TEST_CASE_TEMPLATE("upload: a slot is stored, claimed once with its secret, finished and read back", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    const auto created = must(s->create_upload_slot(slot(id_of(1)), roomy, now));
    CHECK(created.status == upload_slot_status::created);
    CHECK(created.used_bytes == 0);
    const auto got = must(s->get_upload(id_of(1)));
    REQUIRE(got);
    CHECK(*got == slot(id_of(1)));
    CHECK_FALSE(must(s->get_upload(id_of(2))));

    // The wrong secret, or too late, claims nothing.
    CHECK_FALSE(must(s->claim_upload_slot(id_of(1), std::string(64, 'e'), now, now + 3600)));
    CHECK_FALSE(must(s->claim_upload_slot(id_of(1), std::string(64, 'd'), now + 300, now + 3600)));
    CHECK_FALSE(must(s->finish_upload(id_of(1), now, now + 10)));  // not uploading
    // Once only.
    CHECK(must(s->claim_upload_slot(id_of(1), std::string(64, 'd'), now + 1, now + 3600)));
    CHECK_FALSE(must(s->claim_upload_slot(id_of(1), std::string(64, 'd'), now + 1, now + 3600)));
    auto uploading = must(s->get_upload(id_of(1)));
    REQUIRE(uploading);
    CHECK(uploading->state == upload_state::uploading);
    CHECK(uploading->expires_at == now + 3600);

    CHECK(must(s->finish_upload(id_of(1), now + 2, now + 2 + 604800)));
    CHECK_FALSE(must(s->finish_upload(id_of(1), now + 2, now + 2 + 604800)));
    auto stored = must(s->get_upload(id_of(1)));
    REQUIRE(stored);
    CHECK(stored->state == upload_state::stored);
    CHECK(stored->uploaded_at == now + 2);
    CHECK(stored->expires_at == now + 2 + 604800);
    CHECK_FALSE(must(s->claim_upload_slot(id_of(1), std::string(64, 'd'), now + 3, now + 3600)));

    CHECK(must(s->delete_upload(id_of(1))));
    CHECK_FALSE(must(s->delete_upload(id_of(1))));
    CHECK_FALSE(must(s->get_upload(id_of(1))));
}

TEST_CASE_TEMPLATE("upload: the rate, the pending slots and the quota are decided with the insert", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    // Rate: 2 a minute; a slot from 61 s ago no longer counts.
    const upload_limits rate{1000000, 100, 2};
    CHECK(must(s->create_upload_slot(slot(id_of(1), "alice", 10, now - 61), rate, now)).status ==
          upload_slot_status::created);
    CHECK(must(s->create_upload_slot(slot(id_of(2)), rate, now)).status == upload_slot_status::created);
    CHECK(must(s->create_upload_slot(slot(id_of(3)), rate, now)).status == upload_slot_status::created);
    CHECK(must(s->create_upload_slot(slot(id_of(4)), rate, now)).status == upload_slot_status::too_many_per_minute);
    CHECK_FALSE(must(s->get_upload(id_of(4))));
    // Another account has its own limits.
    CHECK(must(s->create_upload_slot(slot(id_of(5), "bob"), rate, now)).status == upload_slot_status::created);

    // Pending: alice has 3 live slots (the one from 61 s ago lives 300 s).
    const upload_limits pending{1000000, 3, 100};
    CHECK(must(s->create_upload_slot(slot(id_of(6)), pending, now)).status == upload_slot_status::too_many_pending);
    // A stored file is not pending.
    REQUIRE(must(s->claim_upload_slot(id_of(2), std::string(64, 'd'), now, now + 3600)));
    REQUIRE(must(s->finish_upload(id_of(2), now, now + 1000)));
    CHECK(must(s->create_upload_slot(slot(id_of(6)), pending, now)).status == upload_slot_status::created);

    // Quota: 10 + 100 + 100 + 100 bytes used (stored and live slots); an expired slot no longer counts.
    const upload_limits quota{400, 100, 100};
    const auto over = must(s->create_upload_slot(slot(id_of(7), "alice", 91), quota, now));
    CHECK(over.status == upload_slot_status::quota_exceeded);
    CHECK(over.used_bytes == 310);
    CHECK(must(s->create_upload_slot(slot(id_of(7), "alice", 90), quota, now)).status ==
          upload_slot_status::created);
    const auto later = must(s->create_upload_slot(slot(id_of(8), "alice", 5, now + 300), quota, now + 300));
    CHECK(later.status == upload_slot_status::created);
    CHECK(later.used_bytes == 100);  // only the stored file: every slot's deadline passed
}

TEST_CASE_TEMPLATE("upload: expired rows, listings, usage, and the account's rows go with the account", B,
                   HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    auto s = open_with_accounts(backend);
    must(s->create_upload_slot(slot(id_of(1), "alice", 10), roomy, now));
    must(s->create_upload_slot(slot(id_of(2), "alice", 20), roomy, now));
    must(s->create_upload_slot(slot(id_of(3), "bob", 30), roomy, now));
    REQUIRE(must(s->claim_upload_slot(id_of(2), std::string(64, 'd'), now, now + 100)));
    REQUIRE(must(s->finish_upload(id_of(2), now, now + 1000)));
    REQUIRE(must(s->claim_upload_slot(id_of(3), std::string(64, 'd'), now, now + 100)));
    REQUIRE(must(s->finish_upload(id_of(3), now, now + 2000)));

    CHECK(must(s->expired_uploads(now, 10)).empty());
    CHECK(ids(must(s->expired_uploads(now + 300, 10))) == std::vector<std::string>{id_of(1)});
    CHECK(ids(must(s->expired_uploads(now + 5000, 10))) ==
          std::vector<std::string>{id_of(1), id_of(2), id_of(3)});
    CHECK(ids(must(s->expired_uploads(now + 5000, 2))) == std::vector<std::string>{id_of(1), id_of(2)});

    CHECK(ids(must(s->list_uploads(domain, "alice", 10))) == std::vector<std::string>{id_of(1), id_of(2)});
    CHECK(ids(must(s->list_uploads("", "", 10))) == std::vector<std::string>{id_of(1), id_of(2), id_of(3)});
    CHECK(ids(must(s->list_uploads("", "", 1))) == std::vector<std::string>{id_of(1)});

    CHECK(must(s->upload_usage_by_account()) ==
          std::vector<upload_usage>{{domain, "alice", 1, 20, 1}, {domain, "bob", 1, 30, 0}});

    REQUIRE(must(s->delete_account(domain, "alice")));
    CHECK(ids(must(s->list_uploads("", "", 10))) == std::vector<std::string>{id_of(3)});
    CHECK(must(s->upload_usage_by_account()) == std::vector<upload_usage>{{domain, "bob", 1, 30, 0}});
    // A slot for a missing account cannot be stored.
    CHECK_FALSE(s->create_upload_slot(slot(id_of(9), "nobody"), roomy, now).has_value());
}

TEST_CASE_TEMPLATE("upload: migration 16 applies on a fresh database and on one at version 15", B, HUSH_BACKENDS) {
    B backend;
    if (!backend.available()) {
        return;
    }
    REQUIRE(latest_schema_version() >= 16);
    {
        auto s = open_store(backend.options());
        CHECK(must(s->migrate()) == latest_schema_version());
        CHECK(backend.query_int("SELECT COUNT(*) FROM schema_version WHERE version = 16") == 1);
        CHECK(backend.query_int("SELECT COUNT(*) FROM upload_files") == 0);
    }
    backend.exec_raw("DROP TABLE upload_files; DELETE FROM schema_version WHERE version >= 16");
    auto s = open_store(backend.options());
    CHECK(must(s->schema_version()) == 15);
    REQUIRE(must(s->create_account(domain, "alice", make_credentials('a'))));
    CHECK(must(s->migrate()) == latest_schema_version());
    CHECK(must(s->create_upload_slot(slot(id_of(1)), roomy, now)).status == upload_slot_status::created);
}
