#pragma once
// Runs storage work off the event loop: a small pool of worker threads, each owning one `store` connection.
// Coroutines `co_await` the result and resume on their own executor, so the event loop never blocks on I/O to
// the database.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "storage/store.hpp"

namespace hush::storage {

class async_store {
public:
    // Opens the connections and migrates the schema once. PostgreSQL: pool_size connections (at least 1), each
    // reading and writing. SQLite: exactly 1 writer (SQLite allows one at a time) plus sqlite_readers read-only
    // connections (WAL: readers never block the writer nor each other) for read(). Throws std::runtime_error at
    // start-up on failure.
    explicit async_store(const store_options& options);
    ~async_store();  // calls shutdown()

    async_store(const async_store&) = delete;
    async_store& operator=(const async_store&) = delete;

    // Bumped after every change that can end a relationship between two accounts — a roster item written or
    // removed, an account removed, contact notes swept. A cache of "who is whose contact" keeps the generation it
    // read under and trusts an entry only while the generation is unchanged (read it before the storage read that
    // fills the cache, bump it after the write that ends a relationship).
    void relations_changed() { relations_generation_.fetch_add(1, std::memory_order_acq_rel); }
    std::uint64_t relations_generation() const { return relations_generation_.load(std::memory_order_acquire); }

    // Where a job was asked for (file:line of the run() or read() call), for the round-trip tests.
    struct job_site {
        const char* file = "";
        unsigned line = 0;
        bool read_only = false;
        bool on_reader = false;  // where submit() sent it: a reader connection, or the writer(s)
    };
    // Tests only: told of every job as it is queued, on the submitting thread. Set it before any job runs.
    void observe_jobs(std::function<void(const job_site&)> observer) { observer_ = std::move(observer); }

    // Runs fn(store&) on a writer (round robin; each worker's strand serialises use of its connection) and
    // resumes the awaiting coroutine on its own executor with fn's return value. An exception thrown by fn is
    // rethrown in the coroutine. The work queue is bounded (store_options::max_queued, queue_timeout): when it is
    // full fn is not run and a result<T>-returning fn yields error "storage queue full" at once; a job that waited
    // longer than queue_timeout to start is not run and yields "storage timed out". After shutdown() fn is not
    // run and yields "storage is shut down". (A fn returning anything else gets std::runtime_error instead.)
    // A plain function, not a coroutine: it has nothing to co_await itself.
    template <class Fn>
    auto run(Fn fn, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE())
        -> boost::asio::awaitable<std::invoke_result_t<Fn&, store&>> {
        return submit(std::move(fn), job_site{file, line, false});
    }

    // Like run(), for a fn that only reads: on SQLite it runs on one of the reader connections (read-only: a
    // write fails) when the writer has nothing queued, so reads need not wait behind it; on PostgreSQL on the
    // pool, like run(). On SQLite it sees every write whose run() was called before it, completed or not: with a
    // write still queued, the read queues behind it on the writer. (On PostgreSQL, as between two run()s, only
    // the completed ones: the pool's connections work side by side.)
    template <class Fn>
    auto read(Fn fn, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE())
        -> boost::asio::awaitable<std::invoke_result_t<Fn&, store&>> {
        return submit(std::move(fn), job_site{file, line, true});
    }

    // How many run() and read() calls executed their fn so far (storage round trips, for tests and metrics), and
    // how many of them ran on a reader connection.
    std::uint64_t runs() const { return runs_.load(std::memory_order_relaxed); }
    std::uint64_t reader_runs() const { return reader_runs_.load(std::memory_order_relaxed); }
    // Jobs queued or running now.
    std::size_t pending() const { return pending_.load(); }

    // Number of workers (= connections), writers and readers.
    std::size_t size() const { return writers_.size() + readers_.size(); }
    std::size_t readers() const { return readers_.size(); }

    // Runs the work already queued, joins the workers and closes the connections. Idempotent. Call it once the
    // event loop no longer issues storage work.
    void shutdown();

private:
    struct worker {
        boost::asio::strand<boost::asio::thread_pool::executor_type> strand;
        std::unique_ptr<store> connection;
    };
    worker& next_worker(bool on_reader);

    template <class Fn>
    auto submit(Fn fn, job_site site) -> boost::asio::awaitable<std::invoke_result_t<Fn&, store&>> {
        using R = std::invoke_result_t<Fn&, store&>;
        static_assert(!std::is_void_v<R>, "fn must return a value, e.g. a storage::result<T>");

        if (stopped_.load()) {
            co_return refused<R>("storage is shut down");
        }
        // Queued plus running: a full queue answers at once instead of growing without bound.
        if (pending_.fetch_add(1) >= max_queued_ && max_queued_ > 0) {
            pending_.fetch_sub(1);
            co_return refused<R>("storage queue full");
        }
        // These live in this coroutine frame, which the pending handler keeps alive until it is resumed.
        std::optional<R> value;
        bool timed_out = false;
        const auto queued_at = std::chrono::steady_clock::now();
        // A read goes to a reader only while no writer job is queued or running: then every write submitted
        // before it has committed, and the reader's snapshot holds it. Otherwise it queues behind them on the
        // writer, as it would without readers, so a read never overtakes a write asked for before it.
        const bool on_reader = site.read_only && !readers_.empty() && writer_jobs_.load() == 0;
        if (!on_reader) {
            writer_jobs_.fetch_add(1);
        }
        if (observer_) {
            site.on_reader = on_reader;
            observer_(site);
        }
        worker& w = next_worker(on_reader);
        co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr)>(
            [this, &w, &fn, &value, &timed_out, queued_at, on_reader](auto handler) {
                // Work on the coroutine's executor keeps its io_context from running dry while fn is running.
                auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
                boost::asio::post(w.strand, [this, &w, &fn, &value, &timed_out, queued_at, on_reader,
                                             handler = std::move(handler), work = std::move(work)]() mutable {
                    std::exception_ptr failure;
                    // Whoever waited this long has most likely given up: spend the connection on fresher work.
                    if (queue_timeout_.count() > 0 && std::chrono::steady_clock::now() - queued_at > queue_timeout_) {
                        timed_out = true;
                    } else {
                        runs_.fetch_add(1, std::memory_order_relaxed);
                        if (on_reader) {
                            reader_runs_.fetch_add(1, std::memory_order_relaxed);
                        }
                        try {
                            value.emplace(fn(*w.connection));
                        } catch (...) {
                            failure = std::current_exception();
                        }
                    }
                    if (!on_reader) {
                        writer_jobs_.fetch_sub(1);
                    }
                    pending_.fetch_sub(1);
                    // post, never dispatch: the coroutine must not continue on this worker thread.
                    boost::asio::post(work.get_executor(), [handler = std::move(handler), failure]() mutable {
                        std::move(handler)(failure);
                    });
                    work.reset();
                });
            },
            boost::asio::use_awaitable);
        if (timed_out) {
            co_return refused<R>("storage timed out");
        }
        co_return std::move(*value);
    }

    // What run() yields for fn's result type when it does not run fn.
    template <class R>
    static R refused(const char* why) {
        if constexpr (std::is_constructible_v<R, unexpected<error>>) {
            return R(unexpected(error{why}));
        } else {
            throw std::runtime_error(why);
        }
    }

    boost::asio::thread_pool pool_;
    std::vector<std::unique_ptr<worker>> writers_;
    std::vector<std::unique_ptr<worker>> readers_;  // SQLite only; empty: read() uses the writers
    std::atomic<std::size_t> round_robin_{0};
    std::atomic<std::size_t> reader_round_robin_{0};
    std::atomic<bool> stopped_{false};
    std::atomic<std::uint64_t> relations_generation_{0};
    std::size_t max_queued_;                     // 0: unbounded
    std::chrono::milliseconds queue_timeout_;    // 0: none
    std::atomic<std::size_t> pending_{0};        // queued or running
    std::atomic<std::size_t> writer_jobs_{0};    // queued or running on a writer connection
    std::atomic<std::uint64_t> runs_{0};
    std::atomic<std::uint64_t> reader_runs_{0};
    std::function<void(const job_site&)> observer_;
};

}  // namespace hush::storage
