#include "server/app/hushctl_fast.hpp"

#include <algorithm>
#include <cstdio>

#include "protocol/jid.hpp"
#include "server/app/hushctl_common.hpp"

namespace hush {

int run_fast_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    using hushctl::fail;
    using hushctl::stamp;
    if (args.size() < 3 || (args[1] != "list" && args[1] != "revoke") || (args[1] == "list" && args.size() != 3) ||
        args.size() > 4) {
        return 2;
    }
    auto who = jid::parse(args[2]);
    if (!who || !who->has_node() || !who->is_bare()) {
        return fail("'" + args[2] + "' is not an account address (user@domain)");
    }
    if (std::find(cfg.hosts.begin(), cfg.hosts.end(), who->domain()) == cfg.hosts.end()) {
        return fail(who->domain() + " is not a host of this server");
    }
    if (args[1] == "list") {
        auto tokens = store.get_fast_tokens(who->domain(), who->node(), {});
        if (!tokens) {
            return fail(tokens.error().message);
        }
        for (const auto& t : *tokens) {
            const std::string count = t.last_count < 0 ? "-" : std::to_string(t.last_count);
            const std::string used = t.used_at == 0 ? "never" : stamp(t.used_at / 1000000);
            std::printf("%s\t%s\tissued %s\tused %s\texpires %s\tcount %s\n", t.agent_id.c_str(),
                        t.mechanism.c_str(), stamp(t.created_at / 1000000).c_str(), used.c_str(),
                        stamp(t.expires_at).c_str(), count.c_str());
        }
        return 0;
    }
    const std::string client = args.size() == 4 ? args[3] : std::string();
    auto revoked = store.delete_fast_tokens(who->domain(), who->node(), client);
    if (!revoked) {
        return fail(revoked.error().message);
    }
    if (*revoked == 0) {
        return fail(client.empty() ? "no FAST token for " + who->bare_string()
                                   : "no FAST token for client '" + client + "' of " + who->bare_string());
    }
    std::printf("revoked %lld token(s)\n", static_cast<long long>(*revoked));
    return 0;
}

}  // namespace hush
