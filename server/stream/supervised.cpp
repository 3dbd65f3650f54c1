#include "server/stream/supervised.hpp"

#include <spdlog/spdlog.h>

#include <typeinfo>

#include <boost/core/demangle.hpp>

namespace hush::supervision {

namespace {

std::string message_of(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return std::string(e.what()) + " (" + boost::core::demangle(typeid(e).name()) + ")";
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

}  // namespace

void log_failure(const std::string& what, std::exception_ptr error, std::string_view then) noexcept {
    try {
        spdlog::error("{} failed: {}{}", what, message_of(error), then);
    } catch (...) {
        // Out of memory while logging: there is nothing better left to do than carry on.
    }
}

void log_action_failure(const std::string& what, std::exception_ptr error) noexcept {
    try {
        spdlog::error("{}: the action taken after its failure failed too: {}", what, message_of(error));
    } catch (...) {
        // As above.
    }
}

}  // namespace hush::supervision
