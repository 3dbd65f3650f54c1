#include "server/app/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace hush {

void setup_logging(const std::string& level) {
    auto logger = spdlog::stderr_logger_mt("hush");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %-5l %v");
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace hush
