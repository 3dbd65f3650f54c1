// hushctl: administer a Hush server's accounts. Works directly on the configured storage, so it is safe while
// hushd runs (SQLite in WAL mode with a busy timeout, or PostgreSQL).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "protocol/jid.hpp"
#include "server/im/accounts.hpp"
#include "server/config/config.hpp"
#include "server/app/hushctl_antispim.hpp"
#include "server/app/hushctl_content.hpp"
#include "server/app/hushctl_defences.hpp"
#include "server/app/hushctl_fast.hpp"
#include "server/app/hushctl_muc.hpp"
#include "server/app/hushctl_upload.hpp"
#include "server/app/hushctl_registration.hpp"
#include "storage/store.hpp"

namespace {

int usage(FILE* out) {
    std::fprintf(out,
                 "usage: hushctl --config FILE COMMAND [ARGS]\n"
                 "commands:\n"
                 "  adduser JID [PASSWORD]   create an account (prompts for the password if omitted)\n"
                 "  passwd JID [PASSWORD]    change an account's password (revokes its FAST tokens)\n"
                 "  deluser JID              delete an account\n"
                 "  users [DOMAIN]           list accounts\n"
                 "%s%s%s%s%s%s%s",
                 hush::antispim_usage, hush::defences_usage, hush::content_usage, hush::registration_usage,
                 hush::fast_usage, hush::muc_usage, hush::upload_usage);
    return 2;
}

std::string read_secret(const char* prompt) {
    const bool tty = isatty(STDIN_FILENO) != 0;
    termios old{};
    if (tty) {
        std::fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        std::fprintf(stderr, "\n");
    }
    return line;
}

std::optional<std::string> password_argument(const std::vector<std::string>& args, std::size_t index) {
    if (args.size() > index) {
        return args[index];
    }
    const std::string first = read_secret("Password: ");
    if (isatty(STDIN_FILENO) != 0 && read_secret("Again: ") != first) {
        std::fprintf(stderr, "hushctl: the passwords differ\n");
        return std::nullopt;
    }
    return first;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg.rfind("--config=", 0) == 0) {
            config_path = arg.substr(9);
        } else if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        } else {
            args.push_back(arg);
        }
    }
    if (config_path.empty() || args.empty()) {
        return usage(stderr);
    }
    auto cfg = hush::load_config(config_path);
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().c_str());
        return 2;
    }
    std::unique_ptr<hush::storage::store> store;
    try {
        std::filesystem::create_directories(cfg->data_dir);
        store = hush::storage::open_store(cfg->storage);
        if (auto v = store->migrate(); !v) {
            std::fprintf(stderr, "hushctl: cannot migrate the database: %s\n", v.error().message.c_str());
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hushctl: %s\n", e.what());
        return 1;
    }

    const std::string& command = args[0];
    if (command == "users") {
        auto list = store->list_accounts(args.size() > 1 ? args[1] : std::string());
        if (!list) {
            std::fprintf(stderr, "hushctl: %s\n", list.error().message.c_str());
            return 1;
        }
        for (const auto& a : *list) {
            std::printf("%s@%s\n", a.username.c_str(), a.domain.c_str());
        }
        return 0;
    }
    if (command == "reports" || command == "account" ||
        (command == "blocklist" && args.size() > 1 && args[1] == "import")) {
        const int status = hush::run_defences_command(*cfg, *store, args);
        return status == 2 ? usage(stderr) : status;
    }
    if (command == "content") {
        const int status = hush::run_content_command(*cfg, *store, args);
        return status == 2 ? usage(stderr) : status;
    }
    if (command == "fast") {
        const int status = hush::run_fast_command(*cfg, *store, args);
        return status == 2 ? usage(stderr) : status;
    }
    if (command == "muc") {
        const int status = hush::run_muc_command(*cfg, *store, args);
        return status == 2 ? usage(stderr) : status;
    }
    if (command == "upload") {
        const int status = hush::run_upload_command(*cfg, *store, args);
        return status == 2 ? usage(stderr) : status;
    }
    if (command == "invite" || command == "registration") {
        const int status = hush::run_registration_command(*cfg, *store, args);
        return status == 2 ? usage(stderr) : status;
    }
    if (command == "challenge" || command == "requests" || command == "blocklist" || command == "token") {
        const int status = hush::run_antispim_command(*cfg, *store, args);
        return status == 2 ? usage(stderr) : status;
    }
    if (command != "adduser" && command != "passwd" && command != "deluser") {
        return usage(stderr);
    }
    if (args.size() < 2) {
        return usage(stderr);
    }
    auto who = hush::jid::parse(args[1]);
    if (!who || !who->has_node() || !who->is_bare()) {
        std::fprintf(stderr, "hushctl: '%s' is not an account address (user@domain)\n", args[1].c_str());
        return 2;
    }
    if (std::find(cfg->hosts.begin(), cfg->hosts.end(), who->domain()) == cfg->hosts.end()) {
        std::fprintf(stderr, "hushctl: %s is not a host of this server (see [server] hosts in %s)\n",
                     who->domain().c_str(), cfg->source.c_str());
        return 2;
    }
    const std::string address = who->bare_string();
    if (command == "deluser") {
        auto r = store->delete_account(who->domain(), who->node());
        if (!r) {
            std::fprintf(stderr, "hushctl: %s\n", r.error().message.c_str());
            return 1;
        }
        if (!*r) {
            std::fprintf(stderr, "hushctl: no account %s\n", address.c_str());
            return 1;
        }
        std::printf("deleted %s\n", address.c_str());
        return 0;
    }
    auto password = password_argument(args, 2);
    if (!password) {
        return 1;
    }
    auto creds = hush::accounts::make_credentials(*password, cfg->sasl.scram_iterations);
    if (!creds) {
        std::fprintf(stderr, "hushctl: the password is empty or contains characters SASLprep prohibits\n");
        return 2;
    }
    auto r = command == "adduser" ? store->create_account(who->domain(), who->node(), *creds)
                                  : store->set_credentials(who->domain(), who->node(), *creds);
    if (!r) {
        std::fprintf(stderr, "hushctl: %s\n", r.error().message.c_str());
        return 1;
    }
    if (!*r) {
        std::fprintf(stderr, command == "adduser" ? "hushctl: %s already exists\n" : "hushctl: no account %s\n",
                     address.c_str());
        return 1;
    }
    std::printf(command == "adduser" ? "created %s\n" : "password changed for %s\n", address.c_str());
    return 0;
}
