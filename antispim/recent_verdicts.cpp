#include "antispim/recent_verdicts.hpp"

#include <algorithm>

namespace hush {

recent_verdicts::recent_verdicts(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void recent_verdicts::record(verdict_record r) {
    std::lock_guard lock(mutex_);
    if (records_.size() == capacity_) {
        records_.pop_front();
    }
    records_.push_back(std::move(r));
}

std::vector<verdict_record> recent_verdicts::newest(std::size_t limit) const {
    std::lock_guard lock(mutex_);
    const std::size_t n = std::min(limit, records_.size());
    return std::vector<verdict_record>(records_.rbegin(), records_.rbegin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace hush
