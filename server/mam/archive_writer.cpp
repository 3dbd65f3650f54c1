#include "server/mam/archive_writer.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>
#include <utility>

namespace hush {

namespace asio = boost::asio;

namespace {

// How often a waiting caller looks again: a batch takes about this long, so nobody waits much longer than it.
constexpr auto poll_interval = std::chrono::milliseconds(1);

asio::awaitable<void> pause() {
    asio::steady_timer timer(co_await asio::this_coro::executor, poll_interval);
    co_await timer.async_wait(asio::use_awaitable);
}

// An item of the account, as "user@domain id".
std::string moved_key_of(const std::string& domain, const std::string& username, std::int64_t id) {
    return username + "@" + domain + " " + std::to_string(id);
}

}  // namespace

std::string archive_writer::moved_key(const op& o) {
    return moved_key_of(o.domain, o.username, o.item.id);
}

archive_writer::archive_writer(storage::async_store& store, std::size_t max_pending, std::size_t max_batch)
    : store_(store), max_pending_(max_pending), max_batch_(max_batch) {}

std::size_t archive_writer::pending() const {
    std::lock_guard lock(mutex_);
    return pending_.size();
}

asio::awaitable<void> archive_writer::append(const std::string& domain, const std::string& username,
                                             storage::archived_message item) {
    co_await enqueue(op{domain, username, std::move(item), op_kind::append});
}

asio::awaitable<void> archive_writer::remove(const std::string& domain, const std::string& username, std::int64_t id) {
    storage::archived_message item;
    item.id = id;
    co_await enqueue(op{domain, username, std::move(item), op_kind::remove});
}

asio::awaitable<void> archive_writer::drop_offline_copy(const std::string& domain, const std::string& username,
                                                        std::int64_t id) {
    storage::archived_message item;
    item.id = id;
    co_await enqueue(op{domain, username, std::move(item), op_kind::drop_offline_copy});
}

asio::awaitable<storage::result<std::int64_t>> archive_writer::exclusively(deletion job) {
    const auto executor = co_await asio::this_coro::executor;
    {
        std::lock_guard lock(mutex_);
        ++deletions_waiting_;
    }
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (!writing_) {
                writing_ = true;  // no batch starts until it is done
                --deletions_waiting_;
                break;
            }
        }
        co_await pause();
    }
    auto done = co_await store_.run(std::move(job));
    bool start = false;
    {
        std::lock_guard lock(mutex_);
        writing_ = false;
        start = claim_writer_locked();
    }
    if (start) {
        start_writer(executor);
    }
    co_return done;
}

bool archive_writer::claim_writer_locked() {
    if (!writing_ && deletions_waiting_ == 0 && !pending_.empty()) {
        writing_ = true;
        return true;
    }
    return false;
}

void archive_writer::start_writer(const asio::any_io_executor& executor) {
    // Outside the lock: co_spawn may run the writer's first steps at once, and it takes the lock.
    asio::co_spawn(executor, drain(), asio::detached);
}

asio::awaitable<void> archive_writer::enqueue(op o) {
    const auto executor = co_await asio::this_coro::executor;
    while (true) {
        bool queued = false;
        bool start = false;
        {
            std::lock_guard lock(mutex_);
            if (pending_.size() < max_pending_) {
                pending_.push_back(std::move(o));
                ++queued_;
                queued = true;
            }
            start = claim_writer_locked();
        }
        if (start) {
            start_writer(executor);
        }
        if (queued) {
            co_return;
        }
        co_await pause();  // full: wait for the writer, the sender with it
    }
}

asio::awaitable<void> archive_writer::flush() {
    const auto executor = co_await asio::this_coro::executor;
    std::uint64_t target = 0;
    {
        std::lock_guard lock(mutex_);
        target = queued_;
    }
    while (true) {
        bool start = false;
        {
            std::lock_guard lock(mutex_);
            if (written_ >= target) {
                co_return;
            }
            start = claim_writer_locked();
        }
        if (start) {
            start_writer(executor);
        }
        co_await pause();
    }
}

asio::awaitable<void> archive_writer::drain() {
    while (co_await write_batch(true)) {
    }
}

asio::awaitable<void> archive_writer::write_remaining() {
    while (co_await write_batch(false)) {
    }
}

asio::awaitable<bool> archive_writer::write_batch(bool yield) {
    std::vector<op> batch;
    std::set<std::string> moved_before;
    {
        std::lock_guard lock(mutex_);
        moved_before = moved_;  // empty but with a second writer on the database
        if (pending_.empty() || (yield && deletions_waiting_ > 0)) {
            writing_ = false;  // the deletion restarts the writer when it is done
            co_return false;
        }
        const std::size_t n = std::min(pending_.size(), max_batch_);
        batch.assign(std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    const std::size_t n = batch.size();
    // One transaction for the batch. Should an item fail (its account deleted meanwhile), the batch is written
    // again with a savepoint per item, so only what fails is lost (and logged).
    auto job = [batch = std::move(batch),
                moved_before = std::move(moved_before)](storage::store& st) -> storage::result<outcome> {
        outcome result;
        auto write = [&st, &result, &moved_before](const op& o) -> storage::result<void> {
            if (o.kind == op_kind::remove) {
                auto removed = st.delete_archive_item(o.domain, o.username, o.item.id);
                if (!removed) {
                    return unexpected(removed.error());
                }
                return {};
            }
            if (o.kind == op_kind::drop_offline_copy) {
                // After the item's append: dropped only if the item is written (this batch or an earlier one) under
                // the id the offline row names; a moved item leaves another message under that id.
                const std::string key = moved_key(o);
                if (moved_before.contains(key) || result.moved.contains(key)) {
                    return {};
                }
                auto dropped = st.drop_offline_copies(o.domain, o.username, o.item.id);
                if (!dropped) {
                    return unexpected(dropped.error());
                }
                return {};
            }
            auto id = st.append_archive(o.domain, o.username, o.item);
            if (!id) {
                return unexpected(id.error());
            }
            if (*id != o.item.id) {
                result.moved.insert(moved_key(o));
            }
            return {};
        };
        auto whole = st.tentatively([&]() -> storage::result<void> {
            for (const auto& o : batch) {
                if (auto one = write(o); !one) {
                    return one;
                }
            }
            return {};
        });
        if (whole) {
            return result;
        }
        result.moved.clear();  // rolled back: written again
        auto done = st.tentatively([&]() -> storage::result<void> {
            for (const auto& o : batch) {
                if (auto one = st.tentatively([&] { return write(o); }); !one) {
                    result.failures.push_back(o.username + "@" + o.domain + ": " + one.error().message);
                }
            }
            return {};
        });
        if (!done) {
            return unexpected(done.error());
        }
        return result;
    };
    auto written = co_await store_.run(std::move(job));
    if (!written) {
        spdlog::error("mam: {} archive write(s) lost: {}", n, written.error().message);
    } else {
        for (const auto& failure : written->failures) {
            spdlog::error("mam: an archive write failed: {}", failure);
        }
        for (const auto& key : written->moved) {
            spdlog::warn("mam: an archive item went to another id (a second writer?): {}", key);
        }
    }
    {
        std::lock_guard lock(mutex_);
        written_ += n;
        if (written && !written->moved.empty()) {
            if (moved_.size() + written->moved.size() > max_moved) {
                moved_.clear();  // bounded; a copy is dropped right after its append, long before this
            }
            moved_.insert(written->moved.begin(), written->moved.end());
        }
    }
    co_return true;
}

}  // namespace hush
