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
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "storage/store.hpp"

namespace hush::storage {

class async_store {
public:
    // Opens the connections (postgresql: pool_size, at least 1; sqlite: exactly 1, the single writer) and
    // migrates the schema once. Throws std::runtime_error at start-up on failure.
    explicit async_store(const store_options& options);
    ~async_store();  // calls shutdown()

    async_store(const async_store&) = delete;
    async_store& operator=(const async_store&) = delete;

    // Runs fn(store&) on a worker (round robin; each worker's strand serialises use of its connection) and
    // resumes the awaiting coroutine on its own executor with fn's return value. An exception thrown by fn is
    // rethrown in the coroutine. After shutdown() a result<T>-returning fn is not run and yields an error.
    template <class Fn>
    auto run(Fn fn) -> boost::asio::awaitable<std::invoke_result_t<Fn&, store&>> {
        using R = std::invoke_result_t<Fn&, store&>;
        static_assert(!std::is_void_v<R>, "fn must return a value, e.g. a storage::result<T>");

        if (stopped_.load()) {
            if constexpr (std::is_constructible_v<R, unexpected<error>>) {
                co_return R(unexpected(error{"storage is shut down"}));
            } else {
                throw std::runtime_error("storage is shut down");
            }
        }

        // Both live in this coroutine frame, which the pending handler keeps alive until it is resumed.
        std::optional<R> value;
        worker& w = *workers_[next_worker()];
        co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr)>(
            [&w, &fn, &value](auto handler) {
                // Work on the coroutine's executor keeps its io_context from running dry while fn is running.
                auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
                boost::asio::post(w.strand, [&w, &fn, &value, handler = std::move(handler),
                                             work = std::move(work)]() mutable {
                    std::exception_ptr failure;
                    try {
                        value.emplace(fn(*w.connection));
                    } catch (...) {
                        failure = std::current_exception();
                    }
                    // post, never dispatch: the coroutine must not continue on this worker thread.
                    boost::asio::post(work.get_executor(), [handler = std::move(handler), failure]() mutable {
                        std::move(handler)(failure);
                    });
                    work.reset();
                });
            },
            boost::asio::use_awaitable);
        co_return std::move(*value);
    }

    // Number of workers (= connections).
    std::size_t size() const { return workers_.size(); }

    // Runs the work already queued, joins the workers and closes the connections. Idempotent. Call it once the
    // event loop no longer issues storage work.
    void shutdown();

private:
    struct worker {
        boost::asio::strand<boost::asio::thread_pool::executor_type> strand;
        std::unique_ptr<store> connection;
    };
    std::size_t next_worker();

    boost::asio::thread_pool pool_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::atomic<std::size_t> round_robin_{0};
    std::atomic<bool> stopped_{false};
};

}  // namespace hush::storage
