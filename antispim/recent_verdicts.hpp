#pragma once
// The last deciding anti-SPIM verdicts, kept in memory for the admin page (GET /api/verdicts): a bounded ring, the
// oldest dropped first. Event-loop threads record into it concurrently, hence the mutex; a record is a few short
// strings, so holding it is brief. Dry-run verdicts are not here: the chain only logs and counts them.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace hush {

struct verdict_record {
    std::int64_t time = 0;  // unix seconds
    std::string policy;     // which policy decided
    std::string verdict;    // reject, hold, defer, drop
    std::string reason;     // the policy's short reason: "blocked-domain:spam.test"
    std::string sender;     // bare JIDs
    std::string receiver;
    std::string stanza;  // message, presence or iq
    std::string explanation;  // the combined score's parts, when one was taken
};

class recent_verdicts {
public:
    static constexpr std::size_t default_capacity = 200;

    explicit recent_verdicts(std::size_t capacity = default_capacity);

    void record(verdict_record r);
    // Up to `limit` records, newest first.
    std::vector<verdict_record> newest(std::size_t limit) const;
    std::size_t capacity() const { return capacity_; }

private:
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::deque<verdict_record> records_;  // oldest at the front
};

}  // namespace hush
