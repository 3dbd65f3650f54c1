// The [mam] section: what the XEP-0313 archive keeps, for how long, and how large a page is (docs/mam.md).
#include "server/config/config_mam.hpp"

#include <array>
#include <string>

namespace hush::config_detail {

namespace {

constexpr std::array<std::string_view, 3> modes{"always", "roster", "never"};  // as storage::archive_default

}  // namespace

void load_mam(toml_reader& reader, const toml::table& root, config& c) {
    mam_config& m = c.mam;
    const toml::table* t = reader.section(root, "mam");
    if (!t) {
        return;
    }
    reader.check_keys(*t, "mam",
                      {"enabled", "default", "default_page", "max_page", "retention_days", "max_items_per_user",
                       "sweep_interval"});
    reader.read_bool(*t, "mam", "enabled", m.enabled);
    if (const auto i = reader.read_choice(*t, "mam", "default", modes)) {
        m.default_mode = static_cast<storage::archive_default>(*i);
    }
    reader.read_int(*t, "mam", "max_page", m.max_page, 1, 10000);
    if (const toml::node* page = reader.read_int(*t, "mam", "default_page", m.default_page, 1, 10000);
        page != nullptr && m.default_page > m.max_page) {
        reader.fail(page->source(), "mam.default_page",
                    "is larger than mam.max_page (" + std::to_string(m.max_page) + ")");
    }
    m.default_page = std::min(m.default_page, m.max_page);
    reader.read_int(*t, "mam", "retention_days", m.retention_days, 0, 100 * 365);
    reader.read_int(*t, "mam", "max_items_per_user", m.max_items_per_user, 0, 1000000000);
    reader.read_seconds(*t, "mam", "sweep_interval", m.sweep_interval);
}

}  // namespace hush::config_detail
