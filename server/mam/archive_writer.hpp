#pragma once
// The archive's writes, behind delivery and in batches: a message is delivered (with its stanza-id, known before
// anything is written) while its archive item waits in a bounded queue; one writer at a time takes everything
// queued into one transaction (group commit), each item in a savepoint of its own so one failure (an account
// deleted meanwhile) loses only that item. Queries call flush() first, so an account always finds what it was
// delivered. Bounded in items and in bytes: beyond either, callers wait for the writer. A batch the storage did
// not take as a whole (timed out, queue full, connection lost) goes back to the head of the queue and is tried
// again with a growing pause, for a bounded time; then each of its items is logged as lost. It also drops the own
// copies of offline messages whose item it wrote, and runs the sweep's deletions between its batches, never with one.
//
// Ids are made here, as an item is queued, under the queue's lock: the queue's order is the ids' order, so a query
// that waited for flush() has every item with a smaller id than the ones it sees (paging never skips one).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "storage/async_store.hpp"

namespace hush {

// How archive_writer tries again a batch the storage refused as a whole.
struct archive_retry_policy {
    std::chrono::milliseconds first_pause{100};
    std::chrono::milliseconds max_pause{5000};
    std::chrono::milliseconds give_up_after{std::chrono::minutes(5)};  // then its items are logged as lost
    std::chrono::milliseconds give_up_at_exit{10000};                   // write_remaining(): shutdown waits
};

class archive_writer {
public:
    static constexpr std::size_t default_max_pending = 10000;
    static constexpr std::size_t default_max_batch = 1000;
    static constexpr std::size_t default_max_pending_bytes = 64 * 1024 * 1024;

    using retry_policy = archive_retry_policy;

    explicit archive_writer(storage::async_store& store, std::size_t max_pending = default_max_pending,
                            std::size_t max_batch = default_max_batch,
                            std::size_t max_pending_bytes = default_max_pending_bytes, retry_policy retry = {});

    // Ids made from now on are larger than `id` (the highest stored one, read at start-up).
    void seed_last_id(std::int64_t id);

    // Queues the item for the account under a new id — the current time in microseconds, larger than every id
    // made before — and returns that id (item.id is ignored). Returns at once unless the queue is full.
    boost::asio::awaitable<std::int64_t> append(const std::string& domain, const std::string& username,
                                                storage::archived_message item);
    // Queues the item's removal, in order with the appends.
    boost::asio::awaitable<void> remove(const std::string& domain, const std::string& username, std::int64_t id);
    // An offline message referencing item `id` is committed: queues dropping its own copy, after the item's append
    // (in the same transaction when both are still queued), so the message is then stored once.
    boost::asio::awaitable<void> drop_offline_copy(const std::string& domain, const std::string& username,
                                                   std::int64_t id);
    // Runs an archive deletion (the sweep's) while no batch runs: dropping a copy relies on no deletion running
    // at the same time (storage::store::drop_offline_copies). A waiting deletion makes the writer stop after its
    // current batch.
    using deletion = std::function<storage::result<std::int64_t>(storage::store&)>;
    boost::asio::awaitable<storage::result<std::int64_t>> exclusively(deletion job);
    // Returns true once everything queued before the call is written (or failed alone, and was logged); false at
    // once while the storage refuses the writer's batches (it is retrying): the archive is not complete then.
    boost::asio::awaitable<bool> flush();
    // Drops what is queued for the account (it was deleted: nothing of it may reach a new account of that name).
    // Returns how many.
    std::size_t discard(const std::string& domain, const std::string& username);

    // Shutdown begins: appends no longer wait for room (a delivery waiting would be lost with its event loop);
    // write_remaining() writes them.
    void close();
    // At exit, once the event loops have stopped (a writer may be stranded in one): writes whatever is still queued,
    // whether a writer runs or not. Run it on a fresh io_context before the storage shuts down.
    boost::asio::awaitable<void> write_remaining();

    std::size_t pending() const;
    std::size_t pending_bytes() const;

private:
    enum class op_kind { append, remove, drop_offline_copy };
    struct op {
        std::string domain;
        std::string username;
        storage::archived_message item;  // remove, drop_offline_copy: only its id
        op_kind kind = op_kind::append;
        std::uint64_t seq = 0;    // its place in the queue, from 1
        std::size_t bytes = 0;    // what it counts against max_pending_bytes
    };
    // What a batch did besides writing: what failed, and the items append_archive moved to another id.
    struct outcome {
        std::vector<std::string> failures;
        std::set<std::string> moved;
    };
    static std::string moved_key(const op& o);
    using waiter = std::shared_ptr<boost::asio::steady_timer>;

    boost::asio::awaitable<std::int64_t> enqueue(op o);
    // The one writer: batches until nothing is queued. Never throws: should a batch, it logs and stops, and the
    // next caller starts a writer again.
    boost::asio::awaitable<void> drain();
    // Takes up to max_batch queued ops and writes them in one transaction; false when nothing was queued.
    boost::asio::awaitable<bool> write_batch(bool at_exit);
    // Whether the caller is to start the writer (none runs and something is queued; then it counts as running).
    // Called with mutex_ held.
    bool claim_writer_locked();
    // Starts the writer on `executor`; never with mutex_ held.
    void start_writer(const boost::asio::any_io_executor& executor);
    // Called with mutex_ held: the next id, larger than every one before.
    std::int64_t next_id_locked();
    // Called with mutex_ held: the first op not yet written (queued_ + 1 when none).
    std::uint64_t first_unwritten_locked() const;

    // Wake-ups instead of polling: a waiter registers a timer that never expires (under mutex_, after it looked at
    // the state it waits on, so no wake-up is missed) and waits on it; wake_all() cancels every registered timer on
    // its own executor (each event loop runs on one thread, so the cancel runs after the wait has begun).
    waiter add_waiter_locked(const boost::asio::any_io_executor& executor);
    static boost::asio::awaitable<void> wait(waiter w);
    void wake_all();

    storage::async_store& store_;
    const std::size_t max_pending_;
    const std::size_t max_batch_;
    const std::size_t max_pending_bytes_;
    const retry_policy retry_;
    mutable std::mutex mutex_;
    std::vector<op> pending_;
    std::vector<waiter> waiters_;
    bool writing_ = false;  // a batch or a deletion runs
    std::size_t deletions_waiting_ = 0;
    // Items written under another id than they were queued with (only with a second writer on the database): an
    // offline row naming the queued id must keep its copy. Bounded.
    static constexpr std::size_t max_moved = 10000;
    std::set<std::string> moved_;
    bool closing_ = false;
    bool failing_ = false;                        // the last batch was refused; it is being retried
    std::int64_t last_id_ = 0;
    std::uint64_t queued_ = 0;                    // ops ever queued (the last seq)
    std::optional<std::uint64_t> in_flight_;      // the first seq of the batch being written
    std::size_t in_flight_bytes_ = 0;             // its bytes
    std::size_t queued_bytes_ = 0;                // of ops queued or being written
    // The writer's own (one writer at a time): since when the current batch fails, and the next pause.
    std::optional<std::chrono::steady_clock::time_point> failing_since_;
    std::chrono::milliseconds pause_{0};
};

}  // namespace hush
