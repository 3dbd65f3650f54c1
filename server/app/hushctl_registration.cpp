#include "server/app/hushctl_registration.hpp"

#include "server/app/hushctl_common.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>
#include <cstdio>
#include <ctime>

#include "protocol/jid.hpp"
#include "server/registration/invites.hpp"

namespace hush {

namespace {

using hushctl::fail;
using hushctl::unix_now;
using hushctl::stamp;
using hushctl::number;

bool is_host(const config& cfg, const std::string& host) {
    return std::find(cfg.hosts.begin(), cfg.hosts.end(), host) != cfg.hosts.end();
}

std::string state_of(const storage::registration_invite& i, std::int64_t now) {
    if (i.uses_left <= 0) {
        return "used up";
    }
    if (i.expires_at != 0 && i.expires_at <= now) {
        return "expired";
    }
    return "live";
}

int create_invite(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    invites::invite_request request;
    request.domain = cfg.hosts.front();
    request.expires_in_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(cfg.registration.invite_expiry).count();
    for (std::size_t i = 2; i < args.size(); ++i) {
        const std::string& flag = args[i];
        if (i + 1 >= args.size()) {
            return 2;
        }
        const std::string& value = args[++i];
        if (flag == "--uses") {
            const auto n = number(value, 1, 1000000);
            if (!n) {
                return fail("--uses takes a number from 1 to 1000000");
            }
            request.uses = *n;
        } else if (flag == "--expires") {
            const auto n = number(value, 0, 24 * 365 * 10);
            if (!n) {
                return fail("--expires takes hours, from 0 (never) to 87600");
            }
            request.expires_in_seconds = *n * 3600;
        } else if (flag == "--host") {
            const auto host = nameprep(value);
            if (!host || !is_host(cfg, *host)) {
                return fail(value + " is not a host of this server (see [server] hosts in " + cfg.source.string() +
                            ")");
            }
            request.domain = *host;
        } else if (flag == "--user") {
            const auto node = nodeprep(value);
            if (!node || node->empty()) {
                return fail("'" + value + "' is not a valid user name");
            }
            request.username = *node;
        } else if (flag == "--inviter") {
            const auto inviter = jid::parse(value);
            if (!inviter || !inviter->has_node() || !inviter->is_bare() || !is_host(cfg, inviter->domain())) {
                return fail("--inviter takes a local account's address (user@host)");
            }
            request.inviter = inviter->bare_string();
            request.domain = inviter->domain();
        } else {
            return 2;
        }
    }
    if (!request.username.empty()) {
        auto taken = store.account_exists(request.domain, request.username);
        if (!taken) {
            return fail(taken.error().message);
        }
        if (*taken) {
            return fail(request.username + "@" + request.domain + " already exists");
        }
    }
    if (!request.inviter.empty()) {
        const auto inviter = jid::parse(request.inviter);
        auto known = store.account_exists(inviter->domain(), inviter->node());
        if (!known) {
            return fail(known.error().message);
        }
        if (!*known) {
            return fail("no account " + request.inviter);
        }
    }
    const auto made = invites::make(request, unix_now());
    // As every new invitation does: the used-up ones and those expired over a week ago go.
    if (auto swept = store.delete_dead_invites(unix_now() - invites::dead_after_seconds); !swept) {
        return fail(swept.error().message);
    }
    if (auto stored = store.put_invite(made.record); !stored) {
        return fail(stored.error().message);
    }
    std::printf("created invite %s on %s (%lld use%s, %s)\n%s\n", invites::id_of(made.record).c_str(),
                made.record.domain.c_str(), static_cast<long long>(request.uses), request.uses == 1 ? "" : "s",
                made.record.expires_at == 0 ? "never expires" : ("expires " + stamp(made.record.expires_at)).c_str(),
                invites::uri(made.record, made.token).c_str());
    return 0;
}

int list_invites(storage::store& store) {
    auto list = store.list_invites();
    if (!list) {
        return fail(list.error().message);
    }
    const std::int64_t now = unix_now();
    for (const auto& i : *list) {
        std::printf("%s\t%s\t%s\t%s\t%lld/%lld\t%s\t%s\t%s\n", invites::id_of(i).c_str(), i.domain.c_str(),
                    i.username.empty() ? "-" : i.username.c_str(), i.inviter.empty() ? "admin" : i.inviter.c_str(),
                    static_cast<long long>(i.uses_left), static_cast<long long>(i.uses_total),
                    stamp(i.created_at).c_str(), i.expires_at == 0 ? "never" : stamp(i.expires_at).c_str(),
                    state_of(i, now).c_str());
    }
    return 0;
}

int revoke_invite(storage::store& store, const std::string& id) {
    if (id.size() < 6) {
        return fail("give at least 6 characters of the invite's id");
    }
    auto list = store.list_invites();
    if (!list) {
        return fail(list.error().message);
    }
    std::vector<std::string> matches;
    for (const auto& i : *list) {
        if (i.token_sha256.starts_with(id)) {
            matches.push_back(i.token_sha256);
        }
    }
    if (matches.empty()) {
        return fail("no invite " + id);
    }
    if (matches.size() > 1) {
        return fail("several invites start with " + id + "; give more of the id");
    }
    if (auto removed = store.remove_invite(matches.front()); !removed) {
        return fail(removed.error().message);
    }
    std::printf("revoked invite %s\n", matches.front().substr(0, 12).c_str());
    return 0;
}

int pending_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    const std::string& verb = args[1];
    if (verb == "pending" && args.size() == 2) {
        auto list = store.list_pending_accounts();
        if (!list) {
            return fail(list.error().message);
        }
        for (const auto& p : *list) {
            std::printf("%s@%s\t%s\t%s\n", p.username.c_str(), p.domain.c_str(), stamp(p.requested_at).c_str(),
                        p.address.c_str());
        }
        return 0;
    }
    if ((verb != "approve" && verb != "deny") || args.size() != 3) {
        return 2;
    }
    const auto who = jid::parse(args[2]);
    if (!who || !who->has_node() || !who->is_bare() || !is_host(cfg, who->domain())) {
        return fail("'" + args[2] + "' is not a local account's address (user@host)");
    }
    auto done = verb == "approve" ? store.approve_pending(who->domain(), who->node())
                                  : store.deny_pending(who->domain(), who->node());
    if (!done) {
        return fail(done.error().message);
    }
    if (!*done) {
        return fail(who->bare_string() + " is not waiting for approval");
    }
    std::printf(verb == "approve" ? "approved %s\n" : "denied %s (account deleted)\n", who->bare_string().c_str());
    return 0;
}

}  // namespace

int run_registration_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args.size() < 2) {
        return 2;
    }
    if (args[0] == "registration") {
        return pending_command(cfg, store, args);
    }
    if (args[1] == "create") {
        return create_invite(cfg, store, args);
    }
    if (args[1] == "list" && args.size() == 2) {
        return list_invites(store);
    }
    if (args[1] == "revoke" && args.size() == 3) {
        return revoke_invite(store, args[2]);
    }
    return 2;
}

}  // namespace hush
