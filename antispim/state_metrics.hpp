#pragma once
// Evictions from the bounded detection state (antispim/bounded_map.hpp), one counter per kind of map, shared by
// every map of that kind and read by /metrics (hush_antispim_state_evictions_total{map="…"}). Steady evictions
// mean a cap is too small for the traffic, or a flood of new keys is under way.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hush::antispim {

struct state_metrics {
    enum class map : std::size_t { dos, greylist, rate, outbound, s2s_backoff, session_presence, evidence };
    static constexpr std::size_t map_count = 7;

    static std::string_view name(map m) {
        static constexpr std::array<std::string_view, map_count> names{
            "dos", "greylist", "rate", "outbound", "s2s_backoff", "session_presence", "evidence"};
        return names[static_cast<std::size_t>(m)];
    }

    // For a bounded_map's shared counter.
    std::atomic<std::uint64_t>* counter(map m) { return &evictions[static_cast<std::size_t>(m)]; }
    std::uint64_t total(map m) const { return evictions[static_cast<std::size_t>(m)].load(std::memory_order_relaxed); }

    std::array<std::atomic<std::uint64_t>, map_count> evictions{};
};

}  // namespace hush::antispim
