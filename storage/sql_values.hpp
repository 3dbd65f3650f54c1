#pragma once
// Column encodings shared by the SQL backends.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/records.hpp"

namespace hush::storage {

// roster_items.subscription holds the RFC 6121 attribute value (a CHECK constraint keeps it to these four).
inline std::string_view subscription_to_sql(subscription sub) {
    switch (sub) {
    case subscription::to:
        return "to";
    case subscription::from:
        return "from";
    case subscription::both:
        return "both";
    case subscription::none:
        break;
    }
    return "none";
}

inline std::optional<subscription> subscription_from_sql(std::string_view text) {
    if (text == "none") {
        return subscription::none;
    }
    if (text == "to") {
        return subscription::to;
    }
    if (text == "from") {
        return subscription::from;
    }
    if (text == "both") {
        return subscription::both;
    }
    return std::nullopt;
}

// Roster reads join roster_items with roster_groups, one row per (item, group), the rows of an item adjacent and
// its groups in position order. Folds one row into `items`.
inline void fold_roster_row(std::vector<roster_item>& items, roster_item row, std::optional<std::string> group) {
    if (items.empty() || items.back().contact != row.contact) {
        items.push_back(std::move(row));
    }
    if (group) {
        items.back().groups.push_back(std::move(*group));
    }
}

}  // namespace hush::storage
