#pragma once
// Runs storage work off the event loop: a small pool of worker threads, each owning one `store` connection.
// Coroutines `co_await` the result and resume on their own executor, so the event loop never blocks on I/O to
// the database.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "storage/store.hpp"

namespace hush::storage {

class async_store {
public:
    // Opens pool_size connections (sqlite: one) and migrates the schema. Throws at start-up on failure.
    explicit async_store(const store_options& options);
    ~async_store();

    async_store(const async_store&) = delete;
    async_store& operator=(const async_store&) = delete;

    // Runs fn(store&) on a worker and resumes the awaiting coroutine on its own executor with the result.
    template <class Fn>
    auto run(Fn fn) -> boost::asio::awaitable<std::invoke_result_t<Fn, store&>> {
        using R = std::invoke_result_t<Fn, store&>;
        auto worker = next_worker();
        co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(R)>(
            [this, worker, fn = std::move(fn)](auto handler) mutable {
                auto work = boost::asio::make_work_guard(handler);
                boost::asio::post(workers_[worker]->strand,
                    [this, worker, fn = std::move(fn), handler = std::move(handler),
                     work = std::move(work)]() mutable {
                        R r = fn(*workers_[worker]->connection);
                        auto ex = work.get_executor();
                        boost::asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
                            std::move(handler)(std::move(r));
                        });
                    });
            },
            boost::asio::use_awaitable);
    }

    // Waits for queued work to finish and closes the connections (called at shutdown).
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
};

}  // namespace hush::storage
