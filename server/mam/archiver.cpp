#include "server/mam/archiver.hpp"

#include <spdlog/spdlog.h>

#include "protocol/xep0082.hpp"

#include <algorithm>
#include <chrono>

#include "protocol/mam.hpp"
#include "protocol/namespaces.hpp"

namespace hush {

namespace {

bool listed(const std::vector<std::string>& jids, const std::string& bare) {
    return std::find(jids.begin(), jids.end(), bare) != jids.end();
}

}  // namespace

archiver::archiver(const mam_config& cfg, storage::async_store& store) : cfg_(cfg), store_(store), writer_(store) {}

boost::asio::awaitable<bool> archiver::load_last_id() {
    auto last = co_await store_.read([](storage::store& st) { return st.max_archive_id(); });
    if (!last) {
        spdlog::error("mam: cannot read the archive's last id: {}", last.error().message);
        co_return false;
    }
    writer_.seed_last_id(*last);
    co_return true;
}

void archiver::account_removed(const jid& account) {
    const std::size_t dropped = writer_.discard(account.domain(), account.node());
    if (dropped > 0) {
        spdlog::info("mam: {} queued archive write(s) of the deleted account {} dropped", dropped,
                     account.bare_string());
    }
    std::lock_guard lock(prefs_mutex_);
    prefs_.erase(account.bare_string());
    ++prefs_generation_;
}

void archiver::prefs_changed(const jid& account, const storage::archive_prefs& prefs) {
    std::lock_guard lock(prefs_mutex_);
    prefs_[account.bare_string()] = prefs;
    ++prefs_generation_;
}

boost::asio::awaitable<bool> archiver::wanted(const jid& account, const std::string& with) {
    std::optional<std::optional<storage::archive_prefs>> cached;
    std::uint64_t generation = 0;
    {
        std::lock_guard lock(prefs_mutex_);
        if (auto it = prefs_.find(account.bare_string()); it != prefs_.end()) {
            cached = it->second;
        }
        generation = prefs_generation_;
    }
    if (!cached) {
        auto read = co_await store_.read([d = account.domain(), u = account.node()](storage::store& st) {
            return st.get_archive_prefs(d, u);
        });
        if (!read) {
            spdlog::error("mam: cannot read the preferences of {}: {}", account.bare_string(), read.error().message);
            co_return false;
        }
        cached = *read;
        std::lock_guard lock(prefs_mutex_);
        if (prefs_.size() >= max_cached_prefs) {
            prefs_.clear();  // bounded; the next messages read them again
        }
        // An account removed (or preferences set) during the read: what was read may be the old account's.
        if (generation == prefs_generation_) {
            prefs_.emplace(account.bare_string(), *read);
        }
    }
    const auto& prefs = *cached;
    if (prefs) {
        if (listed(prefs->never, with)) {
            co_return false;
        }
        if (listed(prefs->always, with)) {
            co_return true;
        }
    }
    switch (prefs ? prefs->mode : cfg_.default_mode) {
    case storage::archive_default::always: co_return true;
    case storage::archive_default::never: co_return false;
    case storage::archive_default::roster: break;
    }
    // "roster": a contact is a JID with an item in the account's roster (read each time: rosters change).
    auto item = co_await store_.read([d = account.domain(), u = account.node(), with](storage::store& st) {
        return st.get_roster_item(d, u, with);
    });
    if (!item) {
        spdlog::error("mam: cannot read the roster of {}: {}", account.bare_string(), item.error().message);
        co_return false;
    }
    co_return item->has_value();
}

bool archiver::archivable(const stanza& message) {
    if (message.kind() != stanza_kind::message) {
        return false;
    }
    const std::string_view type = message.type();
    if (type != "chat" && type != "normal" && !type.empty()) {
        return false;  // errors, groupchat (no MUC archive here), headlines
    }
    if (message.element().child("body").empty()) {
        return false;
    }
    for (auto c : message.element().children()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        const std::string_view child_ns = c.attribute("xmlns").value();
        const std::string_view name = c.name();
        if (child_ns == ns::hush_antispim) {
            return false;  // the server's own challenge talk, not the users'
        }
        if (child_ns == "urn:xmpp:hints" && (name == "no-store" || name == "no-permanent-store")) {
            return false;
        }
        if (child_ns == mam::ns && name == "result") {
            return false;  // an archive result is not a new message
        }
    }
    return true;
}

boost::asio::awaitable<std::optional<std::int64_t>> archiver::append(const jid& account, const jid& with,
                                                                     storage::archive_direction direction,
                                                                     std::string xml) {
    const std::string with_bare = with.bare_string();
    if (!co_await wanted(account, with_bare)) {
        co_return std::nullopt;
    }
    // The id is made as the item is queued (archive_writer: the queue is in id order), so the delivered copy is
    // stamped before anything is written. One hushd per database: its ids only grow, and no other writer takes them.
    if (cfg_.max_items_per_user > 0) {
        std::lock_guard lock(touched_mutex_);
        if (!touched_overflow_ && !touched_.contains(account.bare_string())) {
            if (touched_.size() >= max_touched) {
                touched_overflow_ = true;
                touched_.clear();
            } else {
                touched_.insert(account.bare_string());
            }
        }
    }
    co_return co_await writer_.append(account.domain(), account.node(),
                                      storage::archived_message{0, with_bare, direction, std::move(xml)});
}

boost::asio::awaitable<std::optional<std::int64_t>> archiver::append_room(const jid& room, const jid& occupant,
                                                                          std::string xml) {
    if (!cfg_.enabled) {
        co_return std::nullopt;
    }
    co_return co_await writer_.append(room.domain(), room.node(),
                                      storage::archived_message{0, occupant.full_string(),
                                                                storage::archive_direction::incoming, std::move(xml)});
}

boost::asio::awaitable<void> archiver::purge_room(const jid& room) {
    auto purged = co_await writer_.exclusively([d = room.domain(), u = room.node()](storage::store& s) {
        return s.trim_archive(d, u, 0);
    });
    if (!purged) {
        spdlog::error("mam: emptying the archive of room {} failed: {}", room.bare_string(), purged.error().message);
    }
}

std::size_t archiver::strip_forged(stanza& message, const jid& from, const jid& to) {
    if (message.kind() != stanza_kind::message) {
        return 0;
    }
    const std::size_t removed = mam::strip_stanza_ids(message, to.bare_string());
    if (removed > 0) {
        spdlog::info("mam: removed a stanza-id claiming to be {}'s from a message of {}", to.bare_string(),
                     from.full_string());
    }
    return removed;
}

boost::asio::awaitable<std::optional<std::int64_t>> archiver::inbound(stanza& message, const jid& from, const jid& to,
                                                                      bool server_made) {
    if (message.kind() != stanza_kind::message) {
        co_return std::nullopt;
    }
    const std::string account = to.bare_string();
    if (server_made) {
        if (!mam::stanza_id(message, account).empty()) {
            co_return std::nullopt;  // redelivered (XEP-0198): in the archive since it was first delivered
        }
    } else {
        strip_forged(message, from, to);  // the router did already; a no-op then
    }
    if (!cfg_.enabled || !archivable(message)) {
        co_return std::nullopt;
    }
    const auto id = co_await append(to.bare(), from, storage::archive_direction::incoming, message.serialize());
    if (id) {
        mam::add_stanza_id(message, account, std::to_string(*id));
    }
    co_return id;
}

boost::asio::awaitable<void> archiver::outbound(const stanza& message, const jid& from, const jid& to) {
    if (!cfg_.enabled || from.equals_bare(to) || !archivable(message)) {
        co_return;  // to oneself: archived once, as it arrives
    }
    co_await append(from.bare(), to, storage::archive_direction::outgoing, message.serialize());
}

boost::asio::awaitable<void> archiver::forget(const jid& account, std::int64_t id, stanza& message) {
    mam::strip_stanza_ids(message, account.bare_string());
    co_await writer_.remove(account.domain(), account.node(), id);  // in order, after its append
}

boost::asio::awaitable<void> archiver::stored_offline(const jid& account, std::int64_t id) {
    co_await writer_.drop_offline_copy(account.domain(), account.node(), id);  // in order, after its append
}

boost::asio::awaitable<void> archiver::sweep() {
    co_await writer_.flush();
    std::int64_t expired = 0;
    if (cfg_.retention_days > 0) {
        const std::int64_t cutoff = unix_now_us() - cfg_.retention_days * 86400 * std::int64_t{1000000};
        while (true) {
            auto deleted = co_await writer_.exclusively(
                [cutoff](storage::store& st) { return st.delete_archive_before(cutoff, sweep_batch); });
            if (!deleted) {
                spdlog::error("mam: retention sweep failed: {}", deleted.error().message);
                break;
            }
            expired += *deleted;
            if (*deleted < static_cast<std::int64_t>(sweep_batch)) {
                break;
            }
        }
    }
    std::int64_t trimmed = 0;
    if (cfg_.max_items_per_user > 0) {
        // Only accounts that archived something since the last sweep can have gone over the cap (all of them after
        // a start or an overflow of the set): a sweep does not read every account's archive every hour.
        bool all = false;
        std::unordered_set<std::string> touched;
        {
            std::lock_guard lock(touched_mutex_);
            all = touched_overflow_;
            touched.swap(touched_);
            touched_overflow_ = false;
        }
        storage::result<std::vector<storage::account>> accounts =
            all ? co_await store_.read([](storage::store& st) { return st.list_accounts(""); })
                : storage::result<std::vector<storage::account>>(std::vector<storage::account>{});
        if (accounts && !all) {
            for (const auto& bare : touched) {
                const auto at = bare.find('@');
                accounts->push_back(storage::account{bare.substr(0, at), bare.substr(at + 1), 0});
            }
        }
        if (!accounts) {
            spdlog::error("mam: cannot list accounts for the archive cap: {}", accounts.error().message);
            std::lock_guard lock(touched_mutex_);
            touched_overflow_ = true;  // the next sweep tries them all again
        } else {
            for (const auto& a : *accounts) {
                auto deleted = co_await writer_.exclusively([a, keep = cfg_.max_items_per_user](storage::store& st) {
                    return st.trim_archive(a.domain, a.username, keep);
                });
                if (!deleted) {
                    spdlog::error("mam: cannot cap the archive of {}@{}: {}", a.username, a.domain,
                                  deleted.error().message);
                    continue;
                }
                trimmed += *deleted;
            }
        }
    }
    if (expired > 0 || trimmed > 0) {
        spdlog::info("mam: sweep deleted {} item(s) past retention and {} over the per-account cap", expired, trimmed);
    }
}

}  // namespace hush
