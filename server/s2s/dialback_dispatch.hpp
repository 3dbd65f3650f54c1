#pragma once
// What both server streams do with a top-level element first: a dialback element (XEP-0220) goes to the stream's
// handler for its kind, a malformed one closes the stream; anything else is left to the caller.
#include <variant>

#include "protocol/dialback.hpp"
#include "protocol/stanza.hpp"

namespace hush {

// Returns true when `s` was a dialback element (handed to `on_result` or `on_verify`, or `on_malformed` with the
// stream error to close with), false when it is something else.
template <class OnResult, class OnVerify, class OnMalformed>
bool dispatch_dialback(const stanza& s, OnResult&& on_result, OnVerify&& on_verify, OnMalformed&& on_malformed) {
    auto dialback = parse_dialback(s.element());
    if (!dialback) {
        on_malformed(dialback.error());
        return true;
    }
    if (const auto* result = std::get_if<dialback_result>(&*dialback)) {
        on_result(*result);
        return true;
    }
    if (const auto* verify = std::get_if<dialback_verify>(&*dialback)) {
        on_verify(*verify);
        return true;
    }
    return false;
}

}  // namespace hush
