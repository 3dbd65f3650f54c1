// [antispim.content] (what a stranger's message says: spamd, Bayes, URL lists) and [antispim.score] (the thresholds
// and weights of the combined score). conf/hush.toml documents each key and its default.
#include "server/config/config_antispim.hpp"
#include "server/config/endpoint_spec.hpp"

#include <array>

namespace hush::config_detail {

namespace {
constexpr std::array<std::string_view, 2> fail_modes{"pass", "hold"};
}

void load_content(toml_reader& r, const toml::table& antispim, antispim_config& a, const std::filesystem::path& dir) {
    if (const toml::table* t = r.section(antispim, "antispim", "content")) {
        const std::string_view p = "antispim.content";
        auto& o = a.content;
        r.check_keys(*t, p,
                     {"spamd", "spamd_timeout_ms", "spamd_fail", "spamd_connections", "spamd_weight", "bayes",
                      "bayes_min_messages", "bayes_max_tokens", "bayes_weight", "url_lists", "url_weight",
                      "local_first_contacts"});
        if (const toml::node* spamd = r.read_string(*t, p, "spamd", o.spamd)) {
            const auto spec = parse_endpoint_spec(o.spamd);
            if (!o.spamd.empty() && (!spec || o.spamd.find(':') == std::string::npos)) {
                r.fail(spamd->source(), join(p, "spamd"),
                       "must be \"host:port\" (\"127.0.0.1:783\", \"[::1]:783\"), or \"\" for no spamd");
            }
        }
        std::int64_t timeout_ms = o.spamd_timeout.count();
        if (r.read_int(*t, p, "spamd_timeout_ms", timeout_ms, 10, 60000)) {
            o.spamd_timeout = std::chrono::milliseconds{timeout_ms};
        }
        if (const auto i = r.read_choice(*t, p, "spamd_fail", fail_modes)) {
            o.spamd_fail = std::string(fail_modes[*i]);
        }
        r.read_int(*t, p, "spamd_connections", o.spamd_connections, 1, 256);
        r.read_number(*t, p, "spamd_weight", o.spamd_weight, 0, 100);
        r.read_bool(*t, p, "bayes", o.bayes);
        r.read_int(*t, p, "bayes_min_messages", o.bayes_min_messages, 1, 1000000);
        r.read_int(*t, p, "bayes_max_tokens", o.bayes_max_tokens, 1000, 10000000);
        r.read_number(*t, p, "bayes_weight", o.bayes_weight, 0, 1000);
        // Relative to this file. hushd reads them at start-up (a broken list stops it, naming its file:line).
        if (r.read_string_list(*t, p, "url_lists", o.url_lists)) {
            for (auto& file : o.url_lists) {
                const std::filesystem::path path(file);
                file = (path.is_absolute() ? path : dir / path).lexically_normal().string();
            }
        }
        r.read_number(*t, p, "url_weight", o.url_weight, 0, 1000);
        r.read_bool(*t, p, "local_first_contacts", o.local_first_contacts);
    }
    if (const toml::table* t = r.section(antispim, "antispim", "score")) {
        const std::string_view p = "antispim.score";
        auto& o = a.score;
        r.check_keys(*t, p,
                     {"challenge_at", "hold_at", "reject_at", "listed", "reputation", "behaviour", "new_account",
                      "rate"});
        r.read_number(*t, p, "challenge_at", o.challenge_at, 0, 1e6);
        const toml::node* hold = r.read_number(*t, p, "hold_at", o.hold_at, 0, 1e6);
        const toml::node* reject = r.read_number(*t, p, "reject_at", o.reject_at, 0, 1e6);
        for (auto [key, out] : {std::pair{"listed", &o.listed}, std::pair{"reputation", &o.reputation},
                                std::pair{"behaviour", &o.behaviour}, std::pair{"new_account", &o.new_account},
                                std::pair{"rate", &o.rate}}) {
            r.read_number(*t, p, key, *out, 0, 1000);
        }
        if (r.ok() && !(o.challenge_at <= o.hold_at && o.hold_at <= o.reject_at)) {
            r.fail((reject ? reject : hold ? hold : static_cast<const toml::node*>(t))->source(),
                   join(p, reject ? "reject_at" : "hold_at"), "must keep challenge_at <= hold_at <= reject_at");
        }
    }
}

}  // namespace hush::config_detail
