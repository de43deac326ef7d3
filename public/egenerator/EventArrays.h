/**
 * egenerator: pulse maps and exclusions of one frame -> flat arrays.
 *
 * The C++ twin of python/icetray/exclusions.py (the numpy reference); both implement the
 * rules listed there and the tests compare them pulse by pulse:
 *  1. pulses on DOMs with om > 60 that are not in the DOM table (IceTop) are skipped; any other
 *     DOM missing from the table is an error; exclusion entries for unknown DOMs are ignored;
 *  2. DOMs in an I3VectorOMKey are excluded (dom_valid false, pulses removed);
 *  3. time windows with stop <= start are ignored; without partial exclusion a DOM with a window
 *     is excluded; with it the windows of a DOM are merged (overlapping or touching), pulses
 *     with start <= time < stop are removed and the merged windows of valid DOMs are returned;
 *  4. bright DOMs (charge > fraction x event charge and > threshold, computed from all pulses of
 *     table DOMs before any exclusion) are excluded;
 *  5. optionally consecutive pulses of a DOM with a gap < merge threshold are merged (time of
 *     the first, summed charge).
 * Pulses come out ordered by (DOM index, time), ties in input order.
 */
#ifndef EGENERATOR_EVENTARRAYS_H_INCLUDED
#define EGENERATOR_EVENTARRAYS_H_INCLUDED

#include <cstdint>
#include <string>
#include <vector>

#include <dataclasses/I3TimeWindow.h>
#include <dataclasses/I3Vector.h>
#include <dataclasses/physics/I3RecoPulse.h>
#include <icetray/I3Frame.h>
#include <icetray/OMKey.h>

namespace egenerator {

/// How exclusions are applied (names as in ApplyEventGeneratorReconstruction).
struct ExclusionSettings {
  bool partial_exclusion = true;
  bool exclude_bright_doms = true;
  double bright_doms_threshold_fraction = 0.4;
  double bright_doms_threshold_charge_pe = 100.0;
  /// Merge consecutive pulses closer than this [ns]; negative: no merging.
  double merge_pulses_time_threshold_ns = -1.0;
};

/// OMKey -> row of the detector table (a dense lookup; pmt is ignored).
class DomIndex {
 public:
  DomIndex(const std::vector<int>& string, const std::vector<int>& om);
  /// Row of the DOM, or -1 when it is not in the table.
  int64_t operator()(const OMKey& key) const { return Lookup(key.GetString(), key.GetOM()); }
  int64_t Lookup(int string, int om) const {
    if (string < min_string_ || string > max_string_ || om < 0 || om > max_om_) return -1;
    return table_[static_cast<size_t>(string - min_string_) * (max_om_ + 1) + om];
  }
  size_t size() const { return num_doms_; }

 private:
  int min_string_ = 0;
  int max_string_ = -1;
  int max_om_ = -1;
  size_t num_doms_ = 0;
  std::vector<int64_t> table_;
};

/// One event after exclusions (see python/icetray/exclusions.py EventArrays).
struct EventArrays {
  std::vector<double> pulse_time_ns;
  std::vector<double> pulse_charge_pe;
  std::vector<int64_t> pulse_dom;
  std::vector<double> dom_charge_pe;  ///< [D]
  std::vector<uint8_t> dom_valid;     ///< [D]
  std::vector<double> window_start_ns;
  std::vector<double> window_stop_ns;
  std::vector<int64_t> window_dom;
  std::vector<int64_t> bright_doms;
};

/// Apply the exclusions to in-memory objects; `source` names the event in error messages.
/// Throws std::invalid_argument for unknown in-ice DOMs and non-finite pulse values.
EventArrays ApplyExclusions(const I3RecoPulseSeriesMap& pulses,
                            const std::vector<const I3VectorOMKey*>& dom_lists,
                            const std::vector<const I3TimeWindowSeriesMap*>& window_maps,
                            const DomIndex& index, const ExclusionSettings& settings,
                            const std::string& source = "<objects>");

/// Read the pulses (masks and unions resolved) and every present exclusion key from a frame.
/// Each exclusion key may hold an I3VectorOMKey or an I3TimeWindowSeriesMap; missing keys are
/// skipped, other types are an error. A missing pulse key is an error.
EventArrays ConvertFrame(const I3Frame& frame, const std::string& pulse_key,
                         const std::vector<std::string>& exclusion_keys, const DomIndex& index,
                         const ExclusionSettings& settings);

/// Flat (string, om, time, charge) of a pulse map in map order (no exclusions).
void FlattenPulseMap(const I3RecoPulseSeriesMap& pulses, std::vector<int32_t>& string,
                     std::vector<int32_t>& om, std::vector<double>& time_ns,
                     std::vector<double>& charge_pe);

}  // namespace egenerator

#endif  // EGENERATOR_EVENTARRAYS_H_INCLUDED
