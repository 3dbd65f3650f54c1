#include "server/config/config_reader.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

namespace hush::config_detail {
namespace {

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a floating-point number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        case toml::node_type::none: break;
    }
    return "nothing";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string join(std::string_view prefix, std::string_view key) {
    if (prefix.empty()) {
        return std::string(key);
    }
    return std::string(prefix) + "." + std::string(key);
}

std::string indexed(std::string_view key, std::size_t i) {
    return std::string(key) + "[" + std::to_string(i) + "]";
}

std::string in_quotes(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

std::filesystem::path resolve(const std::filesystem::path& base, const std::filesystem::path& p) {
    if (p.is_absolute()) {
        return p.lexically_normal();
    }
    return (base / p).lexically_normal();
}

void toml_reader::fail(const toml::source_region& where, std::string_view key, std::string_view what) {
    const toml::source_position at = where.begin;
    if (error_ && (error_at_.line < at.line || (error_at_.line == at.line && error_at_.column <= at.column))) {
        return;  // an earlier error is already recorded
    }
    error_at_ = at;
    error_ = file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " + std::string(key) +
             ": " + std::string(what);
}

void toml_reader::fail_type(const toml::node& node, std::string_view key, std::string_view expected) {
    fail(node.source(), key, "expected " + std::string(expected) + ", got " + std::string(type_name(node.type())));
}

void toml_reader::fail_range(const toml::node& node, std::string_view key, std::int64_t got, std::int64_t min,
                             std::int64_t max) {
    const std::string suffix = " (got " + std::to_string(got) + ")";
    // A maximum that large is the field's type limit, not advice for the admin.
    if (got < min && max >= std::numeric_limits<std::uint32_t>::max()) {
        fail(node.source(), key, "must be at least " + std::to_string(min) + suffix);
    } else {
        fail(node.source(), key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + suffix);
    }
}

void toml_reader::check_keys(const toml::table& table, std::string_view prefix,
                             std::initializer_list<std::string_view> known) {
    for (auto&& [key, node] : table) {
        const std::string_view name = key.str();
        if (std::find(known.begin(), known.end(), name) != known.end()) {
            continue;
        }
        std::string_view closest;
        std::size_t best = 3;  // suggest only near misses
        for (const std::string_view k : known) {
            if (const std::size_t d = edit_distance(name, k); d < best) {
                closest = k;
                best = d;
            }
        }
        std::string what = "unknown key";
        if (!closest.empty()) {
            what += " (did you mean " + join(prefix, closest) + "?)";
        }
        fail(key.source(), join(prefix, name), what);
    }
}

const toml::table* toml_reader::section(const toml::table& parent, std::string_view prefix, std::string_view name) {
    const toml::node* node = parent.get(name);
    if (!node) {
        return nullptr;
    }
    if (!node->is_table()) {
        fail_type(*node, join(prefix, name), "a table");
        return nullptr;
    }
    return node->as_table();
}

const toml::node* toml_reader::read_bool(const toml::table& t, std::string_view prefix, std::string_view key,
                                         bool& out) {
    const toml::node* node = t.get(key);
    if (!node) {
        return nullptr;
    }
    const auto* value = node->as_boolean();
    if (!value) {
        fail_type(*node, join(prefix, key), "a boolean (true or false)");
        return nullptr;
    }
    out = value->get();
    return node;
}

const toml::node* toml_reader::read_string(const toml::table& t, std::string_view prefix, std::string_view key,
                                           std::string& out) {
    const toml::node* node = t.get(key);
    if (!node) {
        return nullptr;
    }
    const auto* value = node->as_string();
    if (!value) {
        fail_type(*node, join(prefix, key), "a string");
        return nullptr;
    }
    out = value->get();
    return node;
}

std::optional<std::size_t> toml_reader::read_choice(const toml::table& t, std::string_view prefix,
                                                    std::string_view key, std::span<const std::string_view> names) {
    std::string value;
    const toml::node* node = read_string(t, prefix, key, value);
    if (!node) {
        return std::nullopt;
    }
    std::string list;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == value) {
            return i;
        }
        list += (i == 0 ? "" : ", ") + in_quotes(names[i]);
    }
    fail(node->source(), join(prefix, key), "must be one of " + list + " (got " + in_quotes(value) + ")");
    return std::nullopt;
}

const toml::node* toml_reader::read_path(const toml::table& t, std::string_view prefix, std::string_view key,
                                         const std::filesystem::path& base, std::filesystem::path& out,
                                         bool allow_empty) {
    std::string text;
    const toml::node* node = read_string(t, prefix, key, text);
    if (!node) {
        return nullptr;
    }
    if (text.empty()) {
        if (!allow_empty) {
            fail(node->source(), join(prefix, key), "must not be empty");
            return nullptr;
        }
        out.clear();
        return node;
    }
    out = resolve(base, text);
    return node;
}

const toml::node* toml_reader::read_number(const toml::table& t, std::string_view prefix, std::string_view key,
                                           double& out, double min, double max) {
    const toml::node* node = t.get(key);
    if (!node) {
        return nullptr;
    }
    std::optional<double> value = node->value<double>();  // integers convert too
    if (!value || !(node->is_floating_point() || node->is_integer())) {
        fail_type(*node, join(prefix, key), "a number");
        return nullptr;
    }
    if (*value < min || *value > max) {
        char text[96];
        std::snprintf(text, sizeof text, "must be between %g and %g (got %g)", min, max, *value);
        fail(node->source(), join(prefix, key), text);
        return nullptr;
    }
    out = *value;
    return node;
}

const toml::node* toml_reader::read_seconds(const toml::table& t, std::string_view prefix, std::string_view key,
                                            std::chrono::seconds& out) {
    std::int64_t seconds = out.count();
    const toml::node* node = read_int(t, prefix, key, seconds, 1, max_timeout_seconds);
    if (node) {
        out = std::chrono::seconds{seconds};
    }
    return node;
}

std::optional<std::string> canonical_ip(const std::string& text) {
    unsigned char bytes[16];
    char buffer[INET6_ADDRSTRLEN];
    for (const int family : {AF_INET, AF_INET6}) {
        if (inet_pton(family, text.c_str(), bytes) == 1 && inet_ntop(family, bytes, buffer, sizeof buffer)) {
            return std::string(buffer);
        }
    }
    return std::nullopt;
}

const toml::array* toml_reader::read_string_list(const toml::table& t, std::string_view prefix,
                                                 std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = t.get(key);
    if (!node) {
        return nullptr;
    }
    const toml::array* array = node->as_array();
    if (!array) {
        fail_type(*node, join(prefix, key), "an array of strings");
        return nullptr;
    }
    std::vector<std::string> values;
    bool valid = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        if (const auto* s = element.as_string()) {
            values.push_back(s->get());
        } else {
            fail_type(element, indexed(join(prefix, key), i), "a string");
            valid = false;
        }
    }
    if (!valid) {
        return nullptr;
    }
    out = std::move(values);
    return array;
}

}  // namespace hush::config_detail
