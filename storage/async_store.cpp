#include "storage/async_store.hpp"

#include <algorithm>

namespace hush::storage {
namespace {

// SQLite allows one writer at a time, so more writing connections would only queue on its lock.
std::size_t writer_count(const store_options& options) {
    if (options.backend == store_options::backend_kind::sqlite) {
        return 1;
    }
    return std::max(1u, options.pool_size);
}

// An in-memory SQLite database is private to its connection: readers would see another, empty one.
bool sqlite_in_memory(const std::string& path) {
    return path == ":memory:" || path.rfind("file::memory:", 0) == 0 || path.find("mode=memory") != std::string::npos;
}

std::size_t reader_count(const store_options& options) {
    if (options.backend != store_options::backend_kind::sqlite || sqlite_in_memory(options.sqlite_path)) {
        return 0;
    }
    return options.sqlite_readers;
}

}  // namespace

async_store::async_store(const store_options& options)
    : pool_(writer_count(options) + reader_count(options)),
      max_queued_(options.max_queued),
      queue_timeout_(options.queue_timeout) {
    const std::size_t count = writer_count(options);
    writers_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        writers_.push_back(
            std::make_unique<worker>(worker{boost::asio::make_strand(pool_.get_executor()), open_store(options)}));
    }
    // Once, before any request is accepted, so every worker sees the current schema.
    if (auto migrated = writers_.front()->connection->migrate(); !migrated) {
        throw std::runtime_error("cannot migrate the database schema: " + migrated.error().message);
    }
    // After the migration: a reader cannot create the schema, and opens on the finished one.
    const std::size_t readers = reader_count(options);
    readers_.reserve(readers);
    for (std::size_t i = 0; i < readers; ++i) {
        readers_.push_back(std::make_unique<worker>(
            worker{boost::asio::make_strand(pool_.get_executor()), open_store(options, open_mode::read_only)}));
    }
}

async_store::~async_store() {
    shutdown();
}

async_store::worker& async_store::next_worker(bool on_reader) {
    if (on_reader) {
        return *readers_[reader_round_robin_.fetch_add(1, std::memory_order_relaxed) % readers_.size()];
    }
    return *writers_[round_robin_.fetch_add(1, std::memory_order_relaxed) % writers_.size()];
}

void async_store::shutdown() {
    if (stopped_.exchange(true)) {
        return;
    }
    // join() lets the threads finish everything already queued, then they exit.
    pool_.join();
    for (auto& w : readers_) {
        w->connection.reset();
    }
    for (auto& w : writers_) {
        w->connection.reset();
    }
}

}  // namespace hush::storage
