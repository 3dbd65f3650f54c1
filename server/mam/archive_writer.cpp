#include "server/mam/archive_writer.hpp"

#include <spdlog/spdlog.h>

#include "protocol/xep0082.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <exception>
#include <string>
#include <utility>

namespace hush {

namespace asio = boost::asio;

namespace {

// An item of the account, as "user@domain id".
std::string moved_key_of(const std::string& domain, const std::string& username, std::int64_t id) {
    return username + "@" + domain + " " + std::to_string(id);
}

}  // namespace

std::string archive_writer::moved_key(const op& o) {
    return moved_key_of(o.domain, o.username, o.item.id);
}

archive_writer::archive_writer(storage::async_store& store, std::size_t max_pending, std::size_t max_batch,
                               std::size_t max_pending_bytes, retry_policy retry)
    : store_(store),
      max_pending_(max_pending),
      max_batch_(max_batch),
      max_pending_bytes_(max_pending_bytes),
      retry_(retry) {}

std::size_t archive_writer::pending() const {
    std::lock_guard lock(mutex_);
    return pending_.size();
}

std::size_t archive_writer::pending_bytes() const {
    std::lock_guard lock(mutex_);
    return queued_bytes_;
}

void archive_writer::seed_last_id(std::int64_t id) {
    std::lock_guard lock(mutex_);
    last_id_ = std::max(last_id_, id);
}

std::int64_t archive_writer::next_id_locked() {
    // Strictly increasing whatever the clock does (stepped back: one microsecond after the last id).
    last_id_ = std::max(unix_now_us(), last_id_ + 1);
    return last_id_;
}

std::uint64_t archive_writer::first_unwritten_locked() const {
    if (in_flight_) {
        return *in_flight_;  // the batch being written comes before everything still queued
    }
    return pending_.empty() ? queued_ + 1 : pending_.front().seq;
}

asio::awaitable<std::int64_t> archive_writer::append(const std::string& domain, const std::string& username,
                                                     storage::archived_message item) {
    co_return co_await enqueue(op{domain, username, std::move(item), op_kind::append});
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
    // However this coroutine ends — done, thrown through, or destroyed while it waits — the writer is let go: its
    // place in the waiting count is given back, or the writing flag it took, and whoever waits is woken.
    struct release {
        archive_writer& self;
        asio::any_io_executor executor;
        bool running = false;
        ~release() {
            bool start = false;
            {
                std::lock_guard lock(self.mutex_);
                if (running) {
                    self.writing_ = false;
                } else {
                    --self.deletions_waiting_;
                }
                start = self.claim_writer_locked();
            }
            if (start) {
                self.start_writer(executor);
            }
            self.wake_all();  // the writer, or another deletion, may wait
        }
    };
    {
        std::lock_guard lock(mutex_);
        ++deletions_waiting_;
    }
    release guard{*this, executor};
    while (true) {
        waiter w;
        {
            std::lock_guard lock(mutex_);
            if (!writing_) {
                writing_ = true;  // no batch starts until it is done
                --deletions_waiting_;
                guard.running = true;
                break;
            }
            w = add_waiter_locked(executor);  // the writer wakes everyone when it stops
        }
        co_await wait(std::move(w));
    }
    co_return co_await store_.run(std::move(job));
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

archive_writer::waiter archive_writer::add_waiter_locked(const asio::any_io_executor& executor) {
    auto w = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
    waiters_.push_back(w);
    return w;
}

asio::awaitable<void> archive_writer::wait(waiter w) {
    co_await w->async_wait(asio::as_tuple(asio::use_awaitable));  // cancelled: woken
}

void archive_writer::wake_all() {
    std::vector<waiter> woken;
    {
        std::lock_guard lock(mutex_);
        woken.swap(waiters_);
    }
    for (auto& w : woken) {
        // On the waiter's own executor: a timer is not to be touched from another thread.
        asio::post(w->get_executor(), [w] { w->cancel(); });
    }
}

asio::awaitable<std::int64_t> archive_writer::enqueue(op o) {
    const auto executor = co_await asio::this_coro::executor;
    o.bytes = sizeof(op) + o.domain.size() + o.username.size() + o.item.with.size() + o.item.stanza.size();
    while (true) {
        std::optional<std::int64_t> id;
        waiter w;
        bool start = false;
        {
            std::lock_guard lock(mutex_);
            // One item larger than the byte bound still goes, alone: it would wait for ever otherwise.
            const bool room = pending_.size() < max_pending_ &&
                              (queued_bytes_ + o.bytes <= max_pending_bytes_ || queued_bytes_ == 0);
            if (room || closing_) {
                if (o.kind == op_kind::append) {
                    o.item.id = next_id_locked();  // made as it is queued: the queue is in id order
                }
                id = o.item.id;
                o.seq = ++queued_;
                queued_bytes_ += o.bytes;
                pending_.push_back(std::move(o));
            } else {
                w = add_waiter_locked(executor);  // full: wait for the writer, the sender with it
            }
            start = claim_writer_locked();
        }
        if (start) {
            start_writer(executor);
        }
        if (id) {
            co_return *id;
        }
        co_await wait(std::move(w));
    }
}

asio::awaitable<bool> archive_writer::flush() {
    const auto executor = co_await asio::this_coro::executor;
    std::uint64_t target = 0;
    {
        std::lock_guard lock(mutex_);
        target = queued_;
    }
    while (true) {
        waiter w;
        bool start = false;
        {
            std::lock_guard lock(mutex_);
            if (first_unwritten_locked() > target) {
                co_return true;
            }
            // A writer is started if none runs (one stopped for a deletion, or threw), even while failing.
            start = claim_writer_locked();
            if (!failing_) {
                w = add_waiter_locked(executor);
            }
        }
        if (start) {
            start_writer(executor);
        }
        if (!w) {
            co_return false;  // the storage refuses the writer (it retries): do not wait minutes for it
        }
        co_await wait(std::move(w));
    }
}

std::size_t archive_writer::discard(const std::string& domain, const std::string& username) {
    std::size_t dropped = 0;
    {
        std::lock_guard lock(mutex_);
        auto gone = std::stable_partition(pending_.begin(), pending_.end(), [&](const op& o) {
            return o.domain != domain || o.username != username;
        });
        for (auto it = gone; it != pending_.end(); ++it) {
            queued_bytes_ -= it->bytes;
        }
        dropped = static_cast<std::size_t>(pending_.end() - gone);
        pending_.erase(gone, pending_.end());
    }
    if (dropped > 0) {
        wake_all();
    }
    return dropped;
}

void archive_writer::close() {
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
    }
    wake_all();
}

asio::awaitable<void> archive_writer::drain() {
    bool threw = true;  // unless the loop ends normally: write_batch() then stopped the writer itself
    try {
        while (co_await write_batch(false)) {
        }
        threw = false;
    } catch (const std::exception& e) {
        spdlog::critical("mam: the archive writer stopped: {}", e.what());
    } catch (...) {
        spdlog::critical("mam: the archive writer stopped on an unknown exception");
    }
    if (!threw) {
        co_return;
    }
    // No writer runs any more: the next append or flush (woken now) starts another.
    {
        std::lock_guard lock(mutex_);
        if (in_flight_) {
            spdlog::critical("mam: archive items from #{} on, being written, may be lost", *in_flight_);
            queued_bytes_ -= in_flight_bytes_;
        }
        failing_ = false;  // nothing is being retried any more
        writing_ = false;
        in_flight_.reset();
    }
    wake_all();
}

asio::awaitable<void> archive_writer::write_remaining() {
    failing_since_.reset();  // a stranded writer's retries do not count against the exit's own time
    while (co_await write_batch(true)) {
    }
}

asio::awaitable<bool> archive_writer::write_batch(bool at_exit) {
    auto held = std::make_shared<std::vector<op>>();
    std::vector<op>& batch = *held;
    std::set<std::string> moved_before;
    {
        std::unique_lock lock(mutex_);
        moved_before = moved_;  // empty but with a second writer on the database
        // A waiting deletion runs between batches (not at exit: the event loops, and the sweep, have stopped).
        if (pending_.empty() || (!at_exit && deletions_waiting_ > 0)) {
            writing_ = false;
            lock.unlock();
            wake_all();  // a deletion waiting for the writer to stop
            co_return false;
        }
        const std::size_t n = std::min(pending_.size(), max_batch_);
        batch.assign(std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
        in_flight_ = batch.front().seq;
        in_flight_bytes_ = 0;
        for (const auto& o : batch) {
            in_flight_bytes_ += o.bytes;
        }
    }
    wake_all();  // room in the queue
    const std::size_t n = batch.size();
    // One transaction for the batch (the job shares the batch: it stays whole for a retry). Should an item fail (its account deleted meanwhile), the batch is written
    // again with a savepoint per item, so only what fails is lost (and logged).
    auto job = [held, &batch = *held,
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
    std::optional<storage::result<outcome>> written;
    try {
        written = co_await store_.run(std::move(job));
    } catch (const std::exception& e) {
        written = unexpected(storage::error{e.what()});  // whatever threw, the batch is tried again
    }
    if (!*written) {
        const auto now = std::chrono::steady_clock::now();
        if (!failing_since_) {
            failing_since_ = now;
            pause_ = retry_.first_pause;
        }
        if (now - *failing_since_ < (at_exit ? retry_.give_up_at_exit : retry_.give_up_after)) {
            spdlog::warn("mam: writing {} archive item(s) failed ({}); trying again in {} ms", n,
                         written->error().message, pause_.count());
            {
                std::lock_guard lock(mutex_);
                pending_.insert(pending_.begin(), std::make_move_iterator(batch.begin()),
                                std::make_move_iterator(batch.end()));
                in_flight_.reset();
                failing_ = true;
            }
            wake_all();  // flush() answers now rather than wait out the storage
            asio::steady_timer pause(co_await asio::this_coro::executor, pause_);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            pause_ = std::min(pause_ * 2, retry_.max_pause);
            co_return true;
        }
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - *failing_since_).count();
        for (const auto& o : batch) {
            const char* what = o.kind == op_kind::append ? "item" : o.kind == op_kind::remove ? "removal of"
                                                                                             : "copy drop of";
            spdlog::critical("mam: archive {} {} of {}@{} LOST: writes failed for {} s, last: {}", what, o.item.id, o.username, o.domain, seconds,
                             written->error().message);
        }
    } else {
        for (const auto& failure : (*written)->failures) {
            spdlog::error("mam: an archive write failed: {}", failure);
        }
        for (const auto& key : (*written)->moved) {
            spdlog::warn("mam: an archive item went to another id (a second writer?): {}", key);
        }
    }
    failing_since_.reset();
    {
        std::lock_guard lock(mutex_);
        if (*written && !(*written)->moved.empty()) {
            if (moved_.size() + (*written)->moved.size() > max_moved) {
                moved_.clear();  // bounded; a copy is dropped right after its append, long before this
            }
            moved_.insert((*written)->moved.begin(), (*written)->moved.end());
        }
        in_flight_.reset();
        queued_bytes_ -= in_flight_bytes_;
        failing_ = false;
    }
    wake_all();
    co_return true;
}

}  // namespace hush
