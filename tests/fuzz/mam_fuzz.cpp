// libFuzzer target: XEP-0313 requests as a client sends them — the <query/> with its data form and XEP-0059 <set/>,
// <prefs/> — and XEP-0082 date-times. A date-time that parses must format and parse back to the same microsecond;
// a query that parses must serialize to one that parses the same (clients are told what the server understood).
// Built in the fuzz build only (meson -Dfuzzing=true, `./dev fuzz`); seeds in tests/fuzz/corpus/mam/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <pugixml.hpp>

#include "protocol/mam.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (const auto at = hush::mam::parse_datetime(input)) {
        if (hush::mam::parse_datetime(hush::mam::format_datetime(*at)) != at) {
            std::abort();
        }
    }
    pugi::xml_document doc;
    if (!doc.load_buffer(input.data(), input.size()) || !doc.first_child()) {
        return 0;
    }
    const auto element = doc.first_child();
    (void)hush::mam::parse_prefs(element);
    (void)hush::mam::parse_rsm(element);
    const auto query = hush::mam::parse_query(element);
    if (!query) {
        return 0;
    }
    pugi::xml_document again;
    hush::mam::serialize_query(*query, again);
    const auto reparsed = hush::mam::parse_query(again.first_child());
    if (!reparsed || !(*reparsed == *query)) {
        std::abort();
    }
    return 0;
}
