// sql_store, XEP-0045 multi-user chat (migration 14): the persistent rooms of a service, their affiliations (with
// reserved nicks and reasons) and the bans over a whole service. The room configuration is opaque text here: the
// engine serializes and reads it.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/sql_store.hpp"

namespace hush::storage {
namespace {

// A row of (service, room, config, subject, subject_by, created_at); nullopt when unreadable.
std::optional<muc_room_record> room_from_row(const sql_row& row) {
    const auto created = row.int64(5);
    if (!created) {
        return std::nullopt;
    }
    return muc_room_record{row.text(0), row.text(1), row.text(2), row.text(3), row.text(4), *created};
}

// A row of (service, jid, reason, created_at); nullopt when unreadable.
std::optional<muc_service_ban_record> ban_from_row(const sql_row& row) {
    const auto created = row.int64(3);
    if (!created) {
        return std::nullopt;
    }
    return muc_service_ban_record{row.text(0), row.text(1), row.text(2), *created};
}

}  // namespace

// ---- rooms ----

result<std::optional<muc_room_record>> sql_store::get_muc_room(const std::string& service, const std::string& room) {
    std::optional<muc_room_record> found;
    auto done = run("get muc room",
                    "SELECT service, room, config, subject, subject_by, created_at FROM muc_rooms "
                    "WHERE service = $1 AND room = $2",
                    {service, room}, [&](const sql_row& row) -> result<void> {
                        found = room_from_row(row);
                        if (!found) {
                            return unexpected(driver_->failure("get muc room", "unreadable room row"));
                        }
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return found;
}

result<std::vector<muc_room_record>> sql_store::list_muc_rooms(const std::string& service) {
    std::vector<muc_room_record> rooms;
    auto done = run("list muc rooms",
                    "SELECT service, room, config, subject, subject_by, created_at FROM muc_rooms "
                    "WHERE service = $1 ORDER BY room",
                    {service}, [&](const sql_row& row) -> result<void> {
                        auto r = room_from_row(row);
                        if (!r) {
                            return unexpected(driver_->failure("list muc rooms", "unreadable room row"));
                        }
                        rooms.push_back(std::move(*r));
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return rooms;
}

result<std::int64_t> sql_store::count_muc_rooms(const std::string& service) {
    auto count = query_int64("count muc rooms", "SELECT COUNT(*) FROM muc_rooms WHERE service = $1", {service});
    if (!count) {
        return unexpected(count.error());
    }
    return count->value_or(0);
}

result<void> sql_store::put_muc_room(const muc_room_record& r) {
    // An update in place, never a delete and insert: the affiliations reference the row ON DELETE CASCADE, and
    // created_at is when the room was first made persistent.
    auto put = run("put muc room",
                   "INSERT INTO muc_rooms (service, room, config, subject, subject_by, created_at) "
                   "VALUES ($1, $2, $3, $4, $5, $6) "
                   "ON CONFLICT (service, room) DO UPDATE SET config = excluded.config, "
                   "subject = excluded.subject, subject_by = excluded.subject_by",
                   {r.service, r.room, r.config, r.subject, r.subject_by, r.created_at});
    if (!put) {
        return unexpected(put.error());
    }
    return {};
}

result<bool> sql_store::delete_muc_room(const std::string& service, const std::string& room) {
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    // The affiliations reference the room ON DELETE CASCADE; its archive (XEP-0313, under the room's JID) does not.
    auto deleted = run("delete muc room", "DELETE FROM muc_rooms WHERE service = $1 AND room = $2", {service, room});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    if (auto archive = trim_archive(service, room, 0); !archive) {
        return unexpected(archive.error());
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return *deleted > 0;
}

// ---- affiliations ----

result<std::vector<muc_affiliation_record>> sql_store::get_muc_affiliations(const std::string& service,
                                                                            const std::string& room) {
    std::vector<muc_affiliation_record> affiliations;
    auto done = run("get muc affiliations",
                    "SELECT jid, affiliation, nick, reason FROM muc_affiliations "
                    "WHERE service = $1 AND room = $2 ORDER BY jid",
                    {service, room}, [&](const sql_row& row) -> result<void> {
                        affiliations.push_back(
                            muc_affiliation_record{row.text(0), row.text(1), row.text(2), row.text(3)});
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return affiliations;
}

result<void> sql_store::set_muc_affiliation(const std::string& service, const std::string& room,
                                            const muc_affiliation_record& a) {
    // "none" is no row (XEP-0045: setting it revokes whatever affiliation there was). Inserting for a room
    // that does not exist fails on the foreign key: an affiliation never outlives or predates its room.
    auto put = a.affiliation == "none"
                   ? run("set muc affiliation",
                         "DELETE FROM muc_affiliations WHERE service = $1 AND room = $2 AND jid = $3",
                         {service, room, a.jid})
                   : run("set muc affiliation",
                         "INSERT INTO muc_affiliations (service, room, jid, affiliation, nick, reason) "
                         "VALUES ($1, $2, $3, $4, $5, $6) "
                         "ON CONFLICT (service, room, jid) DO UPDATE SET affiliation = excluded.affiliation, "
                         "nick = excluded.nick, reason = excluded.reason",
                         {service, room, a.jid, a.affiliation, a.nick, a.reason});
    if (!put) {
        return unexpected(put.error());
    }
    return {};
}

result<std::vector<std::pair<std::string, muc_affiliation_record>>> sql_store::muc_affiliations_of(
    const std::string& jid) {
    std::vector<std::pair<std::string, muc_affiliation_record>> affiliations;
    auto done = run("muc affiliations of",
                    "SELECT service, room, jid, affiliation, nick, reason FROM muc_affiliations "
                    "WHERE jid = $1 ORDER BY service, room",
                    {jid}, [&](const sql_row& row) -> result<void> {
                        affiliations.emplace_back(
                            row.text(1) + "@" + row.text(0),
                            muc_affiliation_record{row.text(2), row.text(3), row.text(4), row.text(5)});
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return affiliations;
}

result<void> sql_store::delete_muc_affiliations_of(const std::string& jid) {
    // Exactly the bare JID: affiliations are never held by full JIDs, and a domain's are not the account's. A ban
    // (outcast) stays: deleting the account and registering it again must not lift it.
    auto deleted = run("delete muc affiliations of",
                       "DELETE FROM muc_affiliations WHERE jid = $1 AND affiliation <> 'outcast'", {jid});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return {};
}

// ---- service bans ----

result<std::vector<muc_service_ban_record>> sql_store::list_muc_service_bans(const std::string& service) {
    std::vector<muc_service_ban_record> bans;
    auto done = run("list muc service bans",
                    "SELECT service, jid, reason, created_at FROM muc_service_bans WHERE service = $1 ORDER BY jid",
                    {service}, [&](const sql_row& row) -> result<void> {
                        auto b = ban_from_row(row);
                        if (!b) {
                            return unexpected(driver_->failure("list muc service bans", "unreadable ban row"));
                        }
                        bans.push_back(std::move(*b));
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    return bans;
}

result<bool> sql_store::put_muc_service_ban(const muc_service_ban_record& b) {
    // Update first, insert when there was nothing to update; should a concurrent put insert the row between the
    // two (PostgreSQL), the insert does nothing and the second update writes this reason over it. Portable: no
    // dialect's way of telling an upsert's insert from its update.
    sql_transaction tx(*driver_);
    if (auto begun = tx.begin_write(); !begun) {
        return unexpected(begun.error());
    }
    const auto update = [&]() {
        return run("put muc service ban", "UPDATE muc_service_bans SET reason = $3 WHERE service = $1 AND jid = $2",
                   {b.service, b.jid, b.reason});
    };
    auto updated = update();
    if (!updated) {
        return unexpected(updated.error());
    }
    bool created = false;
    if (*updated == 0) {
        auto inserted = run("put muc service ban",
                            "INSERT INTO muc_service_bans (service, jid, reason, created_at) VALUES ($1, $2, $3, $4) "
                            "ON CONFLICT (service, jid) DO NOTHING",
                            {b.service, b.jid, b.reason, b.created_at});
        if (!inserted) {
            return unexpected(inserted.error());
        }
        created = *inserted > 0;
        if (!created) {
            if (auto again = update(); !again) {
                return unexpected(again.error());
            }
        }
    }
    if (auto committed = tx.commit(); !committed) {
        return unexpected(committed.error());
    }
    return created;
}

result<bool> sql_store::delete_muc_service_ban(const std::string& service, const std::string& jid) {
    auto deleted =
        run("delete muc service ban", "DELETE FROM muc_service_bans WHERE service = $1 AND jid = $2", {service, jid});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

}  // namespace hush::storage
