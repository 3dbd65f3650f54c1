// hushd: the Hush XMPP server.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "server/config/config.hpp"
#include "server/app/logging.hpp"
#include "server/app/server.hpp"

namespace {

void usage(FILE* out) {
    std::fprintf(out, "usage: hushd --config FILE\n       hushd --version\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg.rfind("--config=", 0) == 0) {
            config_path = arg.substr(9);
        } else if (arg == "--version") {
            std::printf("hushd 0.1.0\n");
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (config_path.empty()) {
        usage(stderr);
        return 2;
    }
    auto cfg = hush::load_config(config_path);
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().c_str());
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    hush::setup_logging(cfg->log_level);
    try {
        hush::server server(std::move(*cfg));
        return server.run();
    } catch (const std::exception& e) {
        spdlog::critical("cannot start: {}", e.what());
        std::fprintf(stderr, "hushd: cannot start: %s\n", e.what());
        return 1;
    }
}
