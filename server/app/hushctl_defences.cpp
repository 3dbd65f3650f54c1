#include "server/app/hushctl_defences.hpp"

#include "server/app/hushctl_common.hpp"

#include <charconv>
#include <limits>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "protocol/jid.hpp"
#include "antispim/blocklist_import.hpp"

namespace hush {

namespace {

using hushctl::fail;
using hushctl::unix_now;
using hushctl::stamp;

std::optional<long> positive(const std::string& text) {
    return hushctl::number(text, 1, std::numeric_limits<long>::max());
}

hush::expected<std::string, std::string> read_source(const config& cfg, const std::string& source) {
    if (source.starts_with("http://") || source.starts_with("https://")) {
        boost::asio::io_context io;
        auto fetch = fetch_list(source, "", cfg.s2s.ca_file, std::chrono::seconds(30));
        // Not supervised: use_future hands an exception to result.get() below, in this one-shot command.
        auto result = boost::asio::co_spawn(io, std::move(fetch), boost::asio::use_future);
        io.run();
        auto fetched = result.get();
        if (!fetched) {
            return hush::unexpected<std::string>(source + ": " + fetched.error());
        }
        if (fetched->status != 200) {
            return hush::unexpected<std::string>(source + ": HTTP " + std::to_string(fetched->status));
        }
        return std::move(fetched->body);
    }
    if (source == "-") {
        return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    std::ifstream in(source, std::ios::binary);
    if (!in) {
        return hush::unexpected<std::string>("cannot read " + source);
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int import_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args.size() < 3) {
        return 2;
    }
    const std::string& source = args[2];
    std::string format = source.ends_with(".xml") ? "hush" : "domains";
    long expires_hours = 0;
    for (std::size_t i = 3; i < args.size(); ++i) {
        if (args[i] == "--format" && i + 1 < args.size() && (args[i + 1] == "hush" || args[i + 1] == "domains")) {
            format = args[++i];
        } else if (args[i] == "--expires" && i + 1 < args.size()) {
            const auto hours = positive(args[++i]);
            if (!hours) {
                return fail("--expires takes a number of hours");
            }
            expires_hours = *hours;
        } else {
            return 2;
        }
    }
    auto body = read_source(cfg, source);
    if (!body) {
        return fail(body.error());
    }
    const auto now = unix_now();
    auto entries = parse_blocklist_import(format, *body, source, now);
    if (!entries) {
        return fail(source + ": " + entries.error());
    }
    std::size_t added = 0;
    std::size_t skipped = 0;
    for (auto& e : *entries) {
        if (e.kind == "jid-sha256") {
            ++skipped;  // hashed entries cannot be stored as local entries; follow the list with [[antispim.import]]
            continue;
        }
        if (expires_hours != 0 && (e.expires_at == 0 || e.expires_at > now + expires_hours * 3600)) {
            e.expires_at = now + expires_hours * 3600;
        }
        if (auto stored = store.put_blocklist_entry(e); !stored) {
            return fail(stored.error().message);
        }
        ++added;
    }
    std::printf("imported %zu entr%s from %s%s\n", added, added == 1 ? "y" : "ies", source.c_str(),
                skipped != 0 ? (" (" + std::to_string(skipped) + " hashed JID entries skipped)").c_str() : "");
    return 0;
}

int reports_command(storage::store& store, const std::vector<std::string>& args) {
    std::size_t limit = 100;
    if (args.size() == 3 && args[1] == "--limit") {
        const auto n = positive(args[2]);
        if (!n) {
            return fail("--limit takes a positive number");
        }
        limit = static_cast<std::size_t>(*n);
    } else if (args.size() != 1) {
        return 2;
    }
    auto reports = store.list_spam_reports(limit);
    if (!reports) {
        return fail(reports.error().message);
    }
    for (const auto& r : *reports) {
        std::string ids;
        for (const auto& id : r.stanza_ids) {
            ids += (ids.empty() ? "" : ",") + id;
        }
        std::printf("%lld\t%s\t%s reported %s\t%s\t%s\t%s\n", static_cast<long long>(r.id), stamp(r.at).c_str(),
                    r.reporter.c_str(), r.reported.c_str(), r.reason.c_str(), ids.empty() ? "-" : ids.c_str(),
                    r.text.c_str());
    }
    return 0;
}

int account_command(storage::store& store, const std::vector<std::string>& args) {
    if (args.size() == 2 && args[1] == "flagged") {
        auto flags = store.list_account_flags();
        if (!flags) {
            return fail(flags.error().message);
        }
        for (const auto& f : *flags) {
            std::printf("%s\t%s\t%s\t%s\n", f.account.c_str(), f.state.c_str(), stamp(f.at).c_str(), f.reason.c_str());
        }
        return 0;
    }
    if (args.size() == 3 && args[1] == "clear") {
        const auto account = jid::parse(args[2]);
        if (!account || !account->has_node()) {
            return fail("'" + args[2] + "' is not an account address (user@domain)");
        }
        auto removed = store.remove_account_flag(account->bare_string());
        if (!removed) {
            return fail(removed.error().message);
        }
        if (!*removed) {
            return fail(account->bare_string() + " is not flagged");
        }
        std::printf("cleared %s\n", account->bare_string().c_str());
        return 0;
    }
    return 2;
}

}  // namespace

int run_defences_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args[0] == "blocklist") {
        return import_command(cfg, store, args);
    }
    if (args[0] == "reports") {
        return reports_command(store, args);
    }
    return account_command(store, args);
}

}  // namespace hush
