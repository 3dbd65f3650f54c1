// libFuzzer target: jid::parse on arbitrary bytes (every 'to', 'from', roster item and block item goes through it),
// and SASLprep (passwords). A JID that parses must be within RFC 7622's limits and must read back, from its own
// string, as the same JID: rosters, blocklists and routes store the string and compare what parses from it.
// Built in the fuzz build only (meson -Dfuzzing=true, `./dev fuzz`); seeds in tests/fuzz/corpus/jid/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/jid.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    (void)hush::saslprep(input);

    const auto parsed = hush::jid::parse(input);
    if (!parsed) {
        return 0;
    }
    if (parsed->empty() || parsed->domain().size() > 1023 || parsed->node().size() > 1023 ||
        parsed->resource().size() > 1023) {
        std::abort();
    }
    const auto again = hush::jid::parse(parsed->full_string());
    if (!again || !again->equals_full(*parsed)) {
        std::abort();
    }
    const auto bare = hush::jid::parse(parsed->bare_string());
    if (!bare || !bare->is_bare() || !bare->equals_bare(*parsed)) {
        std::abort();
    }
    return 0;
}
