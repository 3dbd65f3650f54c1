#pragma once
// Starts a test coroutine on an io_context the test then runs on its own thread; an exception escaping the
// coroutine is rethrown from run() and fails the test.
#include <exception>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace hush::storage::testing {

template <class Coroutine>
void spawn(boost::asio::io_context& ctx, Coroutine coroutine) {
    boost::asio::co_spawn(ctx, std::move(coroutine), [](std::exception_ptr e) {
        if (e) {
            std::rethrow_exception(e);
        }
    });
}

}  // namespace hush::storage::testing
