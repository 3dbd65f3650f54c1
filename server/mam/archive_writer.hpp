#pragma once
// The archive's writes, behind delivery and in batches: a message is delivered (with its stanza-id, known before
// anything is written) while its archive item waits in a bounded queue; one writer at a time takes everything
// queued into one transaction (group commit), each item in a savepoint of its own so one failure (an account
// deleted meanwhile) loses only that item. Queries call flush() first, so an account always finds what it was
// delivered. Bounded: beyond max_pending queued items, callers wait for the writer. It also drops the own copies of
// offline messages whose item it wrote, and runs the sweep's deletions between its batches, never with one.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "storage/async_store.hpp"

namespace hush {

class archive_writer {
public:
    static constexpr std::size_t default_max_pending = 10000;
    static constexpr std::size_t default_max_batch = 1000;

    explicit archive_writer(storage::async_store& store, std::size_t max_pending = default_max_pending,
                            std::size_t max_batch = default_max_batch);

    // Queues the item for the account; returns at once unless max_pending items are queued already.
    boost::asio::awaitable<void> append(const std::string& domain, const std::string& username,
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
    // Returns once everything queued before the call is written (or failed, and was logged).
    boost::asio::awaitable<void> flush();

    // At exit, once the event loops have stopped (a writer may be stranded in one): writes whatever is still queued,
    // whether a writer runs or not. Run it on a fresh io_context before the storage shuts down.
    boost::asio::awaitable<void> write_remaining();

    std::size_t pending() const;

private:
    enum class op_kind { append, remove, drop_offline_copy };
    struct op {
        std::string domain;
        std::string username;
        storage::archived_message item;  // remove, drop_offline_copy: only its id
        op_kind kind = op_kind::append;
    };

    // What a batch did besides writing: what failed, and the items append_archive moved to another id.
    struct outcome {
        std::vector<std::string> failures;
        std::set<std::string> moved;
    };
    static std::string moved_key(const op& o);

    boost::asio::awaitable<void> enqueue(op o);
    // The one writer: batches until nothing is queued.
    boost::asio::awaitable<void> drain();
    // Takes up to max_batch queued ops and writes them in one transaction; false when nothing was queued or, when
    // `yield` (not at exit), a deletion waits to run.
    boost::asio::awaitable<bool> write_batch(bool yield);
    // Whether the caller is to start the writer (none runs and something is queued; then it counts as running).
    // Called with mutex_ held.
    bool claim_writer_locked();
    // Starts the writer on `executor`; never with mutex_ held.
    void start_writer(const boost::asio::any_io_executor& executor);

    storage::async_store& store_;
    const std::size_t max_pending_;
    const std::size_t max_batch_;
    mutable std::mutex mutex_;
    std::vector<op> pending_;
    bool writing_ = false;  // a batch or a deletion runs
    std::size_t deletions_waiting_ = 0;
    // Items written under another id than they were stamped with (only with a second writer on the database): an
    // offline row naming the stamped id must keep its copy. Bounded.
    static constexpr std::size_t max_moved = 10000;
    std::set<std::string> moved_;
    std::uint64_t queued_ = 0;   // ops ever queued
    std::uint64_t written_ = 0;  // ops the writer is done with
};

}  // namespace hush
