/**
 * egenerator: pulse maps and exclusions of one frame -> flat arrays (see EventArrays.h).
 */
#include <egenerator/EventArrays.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace egenerator {

namespace {

constexpr unsigned kMaxInIceOM = 60;

std::string KeyString(const OMKey& key) {
  std::ostringstream out;
  out << "(" << key.GetString() << ", " << key.GetOM() << ")";
  return out.str();
}

struct Window {
  int64_t dom;
  double start;
  double stop;
};

/// Collect the non-empty windows of table DOMs; NaN bounds are an error.
void CollectWindows(const I3TimeWindowSeriesMap& map, const DomIndex& index,
                    const std::string& source, std::vector<Window>& out) {
  for (const auto& entry : map) {
    const int64_t dom = index(entry.first);
    for (const I3TimeWindow& window : entry.second) {
      if (std::isnan(window.GetStart()) || std::isnan(window.GetStop())) {
        throw std::invalid_argument(source + ": time window of DOM " + KeyString(entry.first) +
                                    " has a NaN bound");
      }
      if (dom >= 0 && window.GetStop() > window.GetStart()) {
        out.push_back(Window{dom, window.GetStart(), window.GetStop()});
      }
    }
  }
}

/// Sort by (dom, start) and merge overlapping or touching windows of the same DOM.
std::vector<Window> MergeWindows(std::vector<Window> windows) {
  std::sort(windows.begin(), windows.end(), [](const Window& a, const Window& b) {
    return a.dom < b.dom || (a.dom == b.dom && a.start < b.start);
  });
  std::vector<Window> merged;
  for (const Window& w : windows) {
    if (!merged.empty() && merged.back().dom == w.dom && w.start <= merged.back().stop) {
      merged.back().stop = std::max(merged.back().stop, w.stop);
    } else {
      merged.push_back(w);
    }
  }
  return merged;
}

}  // namespace

DomIndex::DomIndex(const std::vector<int>& string, const std::vector<int>& om) {
  if (string.size() != om.size()) {
    throw std::invalid_argument("DomIndex: string and om columns differ in length");
  }
  if (string.empty()) throw std::invalid_argument("DomIndex: the DOM table is empty");
  min_string_ = *std::min_element(string.begin(), string.end());
  max_string_ = *std::max_element(string.begin(), string.end());
  max_om_ = *std::max_element(om.begin(), om.end());
  if (*std::min_element(om.begin(), om.end()) < 0) {
    throw std::invalid_argument("DomIndex: negative om number");
  }
  num_doms_ = string.size();
  table_.assign(static_cast<size_t>(max_string_ - min_string_ + 1) * (max_om_ + 1), -1);
  for (size_t i = 0; i < string.size(); ++i) {
    int64_t& slot = table_[static_cast<size_t>(string[i] - min_string_) * (max_om_ + 1) + om[i]];
    if (slot >= 0) {
      std::ostringstream msg;
      msg << "DomIndex: duplicate DOM (" << string[i] << ", " << om[i] << ")";
      throw std::invalid_argument(msg.str());
    }
    slot = static_cast<int64_t>(i);
  }
}

void FlattenPulseMap(const I3RecoPulseSeriesMap& pulses, std::vector<int32_t>& string,
                     std::vector<int32_t>& om, std::vector<double>& time_ns,
                     std::vector<double>& charge_pe) {
  size_t total = 0;
  for (const auto& entry : pulses) total += entry.second.size();
  string.clear();
  om.clear();
  time_ns.clear();
  charge_pe.clear();
  string.reserve(total);
  om.reserve(total);
  time_ns.reserve(total);
  charge_pe.reserve(total);
  for (const auto& entry : pulses) {
    for (const I3RecoPulse& pulse : entry.second) {
      string.push_back(entry.first.GetString());
      om.push_back(static_cast<int32_t>(entry.first.GetOM()));
      time_ns.push_back(pulse.GetTime());
      charge_pe.push_back(pulse.GetCharge());
    }
  }
}

EventArrays ApplyExclusions(const I3RecoPulseSeriesMap& pulses,
                            const std::vector<const I3VectorOMKey*>& dom_lists,
                            const std::vector<const I3TimeWindowSeriesMap*>& window_maps,
                            const DomIndex& index, const ExclusionSettings& settings,
                            const std::string& source) {
  const size_t num_doms = index.size();
  EventArrays out;

  // 1. flatten the pulses of table DOMs (map order: OMKey, then pulse order)
  std::vector<int64_t> dom;
  std::vector<double> time;
  std::vector<double> charge;
  std::vector<OMKey> unknown;
  size_t total = 0;
  for (const auto& entry : pulses) total += entry.second.size();
  dom.reserve(total);
  time.reserve(total);
  charge.reserve(total);
  size_t pulse_number = 0;
  for (const auto& entry : pulses) {
    const int64_t d = index(entry.first);
    if (d < 0 && entry.first.GetOM() <= kMaxInIceOM) unknown.push_back(entry.first);
    for (const I3RecoPulse& pulse : entry.second) {
      const double t = pulse.GetTime();
      const double q = pulse.GetCharge();
      if (!std::isfinite(t) || !std::isfinite(q)) {
        std::ostringstream msg;
        msg << source << ": pulse " << pulse_number << " of DOM " << KeyString(entry.first)
            << " has time " << t << " and charge " << q;
        throw std::invalid_argument(msg.str());
      }
      ++pulse_number;
      if (d < 0) continue;
      dom.push_back(d);
      time.push_back(t);
      charge.push_back(q);
    }
  }
  if (!unknown.empty()) {
    std::ostringstream msg;
    msg << source << ": " << unknown.size()
        << " DOM(s) with pulses are not in the detector table, first:";
    for (size_t i = 0; i < std::min<size_t>(unknown.size(), 5); ++i) {
      msg << " " << KeyString(unknown[i]);
    }
    throw std::invalid_argument(msg.str());
  }

  // 2. whole-DOM exclusions
  std::vector<uint8_t> valid(num_doms, 1);
  for (const I3VectorOMKey* list : dom_lists) {
    for (const OMKey& key : *list) {
      const int64_t d = index(key);
      if (d >= 0) valid[d] = 0;
    }
  }

  // 3. time windows
  std::vector<Window> windows;
  for (const I3TimeWindowSeriesMap* map : window_maps) {
    CollectWindows(*map, index, source, windows);
  }
  if (!settings.partial_exclusion) {
    for (const Window& w : windows) valid[w.dom] = 0;
  }

  // 4. bright DOMs from all pulses of table DOMs
  if (settings.exclude_bright_doms) {
    std::vector<double> raw_charge(num_doms, 0.0);
    for (size_t i = 0; i < dom.size(); ++i) raw_charge[dom[i]] += charge[i];
    const double event_charge = std::accumulate(raw_charge.begin(), raw_charge.end(), 0.0);
    for (size_t d = 0; d < num_doms; ++d) {
      if (raw_charge[d] > settings.bright_doms_threshold_fraction * event_charge &&
          raw_charge[d] > settings.bright_doms_threshold_charge_pe) {
        out.bright_doms.push_back(static_cast<int64_t>(d));
        valid[d] = 0;
      }
    }
  }

  std::vector<Window> merged;
  if (settings.partial_exclusion) {
    std::vector<Window> kept;
    kept.reserve(windows.size());
    for (const Window& w : windows) {
      if (valid[w.dom]) kept.push_back(w);
    }
    merged = MergeWindows(std::move(kept));
  }

  // 5. order pulses by (dom, time), keep valid DOMs and pulses outside the windows
  std::vector<size_t> order(dom.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dom[a] < dom[b] || (dom[a] == dom[b] && time[a] < time[b]);
  });
  out.pulse_time_ns.reserve(dom.size());
  out.pulse_charge_pe.reserve(dom.size());
  out.pulse_dom.reserve(dom.size());
  size_t w = 0;  // windows are sorted like the pulses: walk both together
  for (size_t k : order) {
    const int64_t d = dom[k];
    if (!valid[d]) continue;
    const double t = time[k];
    while (w < merged.size() &&
           (merged[w].dom < d || (merged[w].dom == d && merged[w].stop <= t))) {
      ++w;
    }
    if (w < merged.size() && merged[w].dom == d && merged[w].start <= t) continue;
    out.pulse_dom.push_back(d);
    out.pulse_time_ns.push_back(t);
    out.pulse_charge_pe.push_back(charge[k]);
  }

  // 6. optional pulse merging (gap to the previous pulse below the threshold)
  if (settings.merge_pulses_time_threshold_ns >= 0 && !out.pulse_dom.empty()) {
    size_t n = 0;
    double previous_time = out.pulse_time_ns[0];
    for (size_t i = 1; i < out.pulse_dom.size(); ++i) {
      const double t = out.pulse_time_ns[i];
      if (out.pulse_dom[i] == out.pulse_dom[n] &&
          t - previous_time < settings.merge_pulses_time_threshold_ns) {
        out.pulse_charge_pe[n] += out.pulse_charge_pe[i];
      } else {
        ++n;
        out.pulse_dom[n] = out.pulse_dom[i];
        out.pulse_time_ns[n] = t;
        out.pulse_charge_pe[n] = out.pulse_charge_pe[i];
      }
      previous_time = t;
    }
    out.pulse_dom.resize(n + 1);
    out.pulse_time_ns.resize(n + 1);
    out.pulse_charge_pe.resize(n + 1);
  }

  out.dom_charge_pe.assign(num_doms, 0.0);
  for (size_t i = 0; i < out.pulse_dom.size(); ++i) {
    out.dom_charge_pe[out.pulse_dom[i]] += out.pulse_charge_pe[i];
  }
  out.dom_valid = std::move(valid);
  out.window_dom.reserve(merged.size());
  out.window_start_ns.reserve(merged.size());
  out.window_stop_ns.reserve(merged.size());
  for (const Window& m : merged) {
    out.window_dom.push_back(m.dom);
    out.window_start_ns.push_back(m.start);
    out.window_stop_ns.push_back(m.stop);
  }
  return out;
}

EventArrays ConvertFrame(const I3Frame& frame, const std::string& pulse_key,
                         const std::vector<std::string>& exclusion_keys, const DomIndex& index,
                         const ExclusionSettings& settings) {
  if (!frame.Has(pulse_key)) {
    throw std::invalid_argument("frame has no pulse key '" + pulse_key + "'");
  }
  I3RecoPulseSeriesMapConstPtr pulses = frame.Get<I3RecoPulseSeriesMapConstPtr>(pulse_key);
  if (!pulses) {
    throw std::invalid_argument("frame key '" + pulse_key + "' holds a " +
                                frame.type_name(pulse_key) +
                                ", not an I3RecoPulseSeriesMap (or mask/union)");
  }
  // keep the objects alive while their raw pointers are used
  std::vector<I3FrameObjectConstPtr> holders;
  std::vector<const I3VectorOMKey*> dom_lists;
  std::vector<const I3TimeWindowSeriesMap*> window_maps;
  for (const std::string& key : exclusion_keys) {
    if (!frame.Has(key)) continue;
    I3FrameObjectConstPtr object = frame.Get<I3FrameObjectConstPtr>(key);
    if (auto list = boost::dynamic_pointer_cast<const I3VectorOMKey>(object)) {
      dom_lists.push_back(list.get());
    } else if (auto map = boost::dynamic_pointer_cast<const I3TimeWindowSeriesMap>(object)) {
      window_maps.push_back(map.get());
    } else {
      throw std::invalid_argument("exclusion key '" + key + "' holds a " +
                                  frame.type_name(key) +
                                  ", expected I3VectorOMKey or I3TimeWindowSeriesMap");
    }
    holders.push_back(object);
  }
  return ApplyExclusions(*pulses, dom_lists, window_maps, index, settings,
                         "frame key '" + pulse_key + "'");
}

}  // namespace egenerator
