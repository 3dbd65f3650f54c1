#pragma once
// How Hush starts coroutines: never with boost::asio::detached, which drops an exception without a word (a session
// whose reader threw would linger, silent, until its idle timeout). A supervised coroutine that ends with an
// exception is logged at error level, naming what it was, and its owner's failure action runs: a stream closes with
// <internal-server-error/> and goes down the usual way; a server-wide loop starts again.
#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hush {

namespace supervision {

// Logs "<what> failed: <the exception's message><then>". Never throws.
void log_failure(const std::string& what, std::exception_ptr error, std::string_view then = {}) noexcept;
// Logs that a failure action itself threw. Never throws.
void log_action_failure(const std::string& what, std::exception_ptr error) noexcept;

// `what` is a string, or a callable giving one: a session's name may only be known once it has bound a resource,
// so it is asked for when a failure is logged, not when the coroutine starts.
template <typename Describe>
std::string describe(const Describe& what) {
    if constexpr (std::is_invocable_v<const Describe&>) {
        return what();
    } else {
        return std::string(what);
    }
}

struct no_action {
    void operator()() const noexcept {}
};

}  // namespace supervision

// Spawns `task` (an awaitable<void>, or a callable returning one, as boost::asio::co_spawn takes) on `executor`.
// If it ends with an exception, that is logged with `what`, then `on_failure()` runs on the executor. A failure
// action that throws is logged too: nothing escapes into the event loop.
template <typename Describe, typename Task, typename OnFailure = supervision::no_action>
void spawn_supervised(const boost::asio::any_io_executor& executor, Describe what, Task&& task,
                      OnFailure on_failure = {}) {
    boost::asio::co_spawn(
        executor, std::forward<Task>(task),
        [what = std::move(what), on_failure = std::move(on_failure)](std::exception_ptr error) mutable noexcept {
            if (!error) {
                return;
            }
            std::string name;
            try {
                name = supervision::describe(what);
            } catch (...) {
                name = "a coroutine";
            }
            supervision::log_failure(name, error);
            try {
                on_failure();
            } catch (...) {
                supervision::log_action_failure(name, std::current_exception());
            }
        });
}

namespace supervision {

template <typename MakeTask, typename KeepGoing>
boost::asio::awaitable<void> keep_alive(std::string what, MakeTask make_task, KeepGoing keep_going,
                                        std::chrono::steady_clock::duration pause) {
    while (keep_going()) {
        std::exception_ptr error;
        try {
            co_await make_task();
            co_return;
        } catch (...) {
            error = std::current_exception();  // co_await is not allowed in a handler: pause below
        }
        if (!keep_going()) {
            log_failure(what, error);
            co_return;
        }
        log_failure(what, error, "; starting it again");
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, pause);
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
}

}  // namespace supervision

// For a server-wide background loop, which is worth more alive than dead: runs `make_task()` (a callable returning
// an awaitable<void>) until it returns; each time it ends with an exception, logs it and runs a fresh one after
// `pause`, as long as `keep_going()` says so (the server is not shutting down, the acceptor is open...).
template <typename MakeTask, typename KeepGoing>
void spawn_supervised_loop(const boost::asio::any_io_executor& executor, std::string what, MakeTask make_task,
                           KeepGoing keep_going, std::chrono::steady_clock::duration pause = std::chrono::seconds(5)) {
    std::string name = what;
    spawn_supervised(executor, std::move(name),
                     supervision::keep_alive(std::move(what), std::move(make_task), std::move(keep_going), pause));
}

}  // namespace hush
