// The [registration] section: who may register in-band and what guards open registration (docs/registration.md).
#include "server/config/config_registration.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "protocol/jid.hpp"

namespace hush::config_detail {

namespace {

constexpr std::array<std::string_view, 3> modes{"closed", "invite", "open"};  // as registration_mode

}  // namespace

void load_registration(toml_reader& reader, const toml::table& root, config& c) {
    registration_config& r = c.registration;
    r.reserved_names.assign(default_reserved_names.begin(), default_reserved_names.end());
    const toml::table* t = reader.section(root, "registration");
    if (!t) {
        return;
    }
    // `enabled` (before modes) is refused rather than mapped: true used to mean open without a CAPTCHA, which is
    // not what open means now, and a server silently changing who may register is worse than one that will not start.
    if (const toml::node* old = t->get("enabled")) {
        reader.fail(old->source(), "registration.enabled",
                    "was replaced by registration.mode: write mode = \"open\" (add captcha = false for what "
                    "enabled = true did), mode = \"invite\" or mode = \"closed\"");
    }
    reader.check_keys(*t, "registration",
                      {"enabled", "mode", "max_per_ip", "max_per_network", "max_total", "window_minutes",
                       "min_password_length", "captcha", "approval", "reserved_names", "invites_per_user",
                       "invite_expiry_hours"});
    if (const auto i = reader.read_choice(*t, "registration", "mode", modes)) {
        r.mode = static_cast<registration_mode>(*i);
    }
    reader.read_int(*t, "registration", "max_per_ip", r.max_per_ip, 1, 1000000);
    reader.read_int(*t, "registration", "max_per_network", r.max_per_network, 1, 1000000);
    reader.read_int(*t, "registration", "max_total", r.max_total, 1, 1000000);
    std::int64_t minutes = r.window.count();
    if (reader.read_int(*t, "registration", "window_minutes", minutes, 1, max_timeout_seconds / 60)) {
        r.window = std::chrono::minutes{minutes};
    }
    reader.read_int(*t, "registration", "min_password_length", r.min_password_length, 1, 1024);
    reader.read_bool(*t, "registration", "captcha", r.captcha);
    reader.read_bool(*t, "registration", "approval", r.approval);
    reader.read_int(*t, "registration", "invites_per_user", r.invites_per_user, 0, 10000);
    std::int64_t hours = r.invite_expiry.count();
    if (reader.read_int(*t, "registration", "invite_expiry_hours", hours, 1, max_timeout_seconds / 3600)) {
        r.invite_expiry = std::chrono::hours{hours};
    }
    std::vector<std::string> extra;
    if (const toml::array* names = reader.read_string_list(*t, "registration", "reserved_names", extra)) {
        for (std::size_t i = 0; i < extra.size(); ++i) {
            const auto node = nodeprep(extra[i]);
            if (!node || node->empty()) {
                reader.fail(names->get(i)->source(), indexed("registration.reserved_names", i),
                            in_quotes(extra[i]) + " is not a valid local part of an address");
                continue;
            }
            if (std::find(r.reserved_names.begin(), r.reserved_names.end(), *node) == r.reserved_names.end()) {
                r.reserved_names.push_back(*node);
            }
        }
    }
}

}  // namespace hush::config_detail
