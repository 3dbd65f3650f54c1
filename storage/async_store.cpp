#include "storage/async_store.hpp"

#include <algorithm>

namespace hush::storage {
namespace {

// SQLite allows one writer at a time, so more connections would only queue on its lock.
std::size_t worker_count(const store_options& options) {
    if (options.backend == store_options::backend_kind::sqlite) {
        return 1;
    }
    return std::max(1u, options.pool_size);
}

}  // namespace

async_store::async_store(const store_options& options)
    : pool_(worker_count(options)), max_queued_(options.max_queued), queue_timeout_(options.queue_timeout) {
    const std::size_t count = worker_count(options);
    workers_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        workers_.push_back(
            std::make_unique<worker>(worker{boost::asio::make_strand(pool_.get_executor()), open_store(options)}));
    }
    // Once, before any request is accepted, so every worker sees the current schema.
    if (auto migrated = workers_.front()->connection->migrate(); !migrated) {
        throw std::runtime_error("cannot migrate the database schema: " + migrated.error().message);
    }
}

async_store::~async_store() {
    shutdown();
}

std::size_t async_store::next_worker() {
    return round_robin_.fetch_add(1, std::memory_order_relaxed) % workers_.size();
}

void async_store::shutdown() {
    if (stopped_.exchange(true)) {
        return;
    }
    // join() lets the threads finish everything already queued, then they exit.
    pool_.join();
    for (auto& w : workers_) {
        w->connection.reset();
    }
}

}  // namespace hush::storage
