#include "server/mam/archiver.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "protocol/mam.hpp"
#include "protocol/namespaces.hpp"

namespace hush {

namespace {

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool listed(const std::vector<std::string>& jids, const std::string& bare) {
    return std::find(jids.begin(), jids.end(), bare) != jids.end();
}

// XEP-0313 §7 for one item, inside the storage job: explicit lists first, then the default.
storage::result<bool> wanted(storage::store& st, const std::string& domain, const std::string& username,
                             const std::string& with, storage::archive_default fallback) {
    auto prefs = st.get_archive_prefs(domain, username);
    if (!prefs) {
        return unexpected(prefs.error());
    }
    const auto mode = *prefs ? (*prefs)->mode : fallback;
    if (*prefs) {
        if (listed((*prefs)->never, with)) {
            return false;
        }
        if (listed((*prefs)->always, with)) {
            return true;
        }
    }
    switch (mode) {
    case storage::archive_default::always: return true;
    case storage::archive_default::never: return false;
    case storage::archive_default::roster: break;
    }
    auto item = st.get_roster_item(domain, username, with);
    if (!item) {
        return unexpected(item.error());
    }
    return item->has_value();
}

}  // namespace

archiver::archiver(const mam_config& cfg, storage::async_store& store) : cfg_(cfg), store_(store) {}

std::int64_t archiver::next_id() {
    const std::int64_t now = now_us();
    std::int64_t last = last_id_.load(std::memory_order_relaxed);
    std::int64_t next = 0;
    do {
        next = std::max(now, last + 1);
    } while (!last_id_.compare_exchange_weak(last, next, std::memory_order_relaxed));
    return next;
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
    storage::archived_message item{next_id(), with.bare_string(), direction, std::move(xml)};
    // One round trip: the preferences, the roster when they say "roster", and the write.
    auto job = [d = account.domain(), u = account.node(), item = std::move(item),
                fallback = cfg_.default_mode](storage::store& st) -> storage::result<std::optional<std::int64_t>> {
        auto want = wanted(st, d, u, item.with, fallback);
        if (!want) {
            return unexpected(want.error());
        }
        if (!*want) {
            return std::optional<std::int64_t>();
        }
        auto id = st.append_archive(d, u, item);
        if (!id) {
            return unexpected(id.error());
        }
        return std::optional<std::int64_t>(*id);
    };
    auto done = co_await store_.run(std::move(job));
    if (!done) {
        // Delivery goes on: a message is never lost because the archive could not take it.
        spdlog::error("mam: cannot archive a message for {}: {}", account.bare_string(), done.error().message);
        co_return std::nullopt;
    }
    co_return *done;
}

boost::asio::awaitable<std::optional<std::int64_t>> archiver::inbound(stanza& message, const jid& from, const jid& to) {
    if (message.kind() != stanza_kind::message) {
        co_return std::nullopt;
    }
    const std::string account = to.bare_string();
    if (mam::strip_stanza_ids(message, account) > 0) {
        spdlog::info("mam: removed a stanza-id claiming to be {}'s from a message of {}", account, from.full_string());
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

boost::asio::awaitable<void> archiver::forget(const jid& account, std::int64_t id) {
    auto done = co_await store_.run([d = account.domain(), u = account.node(), id](storage::store& st) {
        return st.delete_archive_item(d, u, id);
    });
    if (!done) {
        spdlog::error("mam: cannot remove item {} of {}: {}", id, account.bare_string(), done.error().message);
    }
}

boost::asio::awaitable<void> archiver::sweep() {
    std::int64_t expired = 0;
    if (cfg_.retention_days > 0) {
        const std::int64_t cutoff = now_us() - cfg_.retention_days * 86400 * std::int64_t{1000000};
        while (true) {
            auto deleted = co_await store_.run(
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
        auto accounts = co_await store_.read([](storage::store& st) { return st.list_accounts(""); });
        if (!accounts) {
            spdlog::error("mam: cannot list accounts for the archive cap: {}", accounts.error().message);
        } else {
            for (const auto& a : *accounts) {
                auto deleted = co_await store_.run([a, keep = cfg_.max_items_per_user](storage::store& st) {
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
