# egenerator inside an IceTray build (included from CMakeLists.txt after i3_project).
#
# Builds
#   libegenerator      pulse maps + DOM/time-window exclusions -> flat arrays (C++)
#   icecube._egenerator boost::python bindings returning numpy arrays
# and registers the pytest suite with ctest (tests marked `icetray` run here; the rest too).

i3_add_library(egenerator
  private/egenerator/*.cxx
  USE_PROJECTS serialization icetray dataclasses
  USE_TOOLS boost python
)

i3_add_pybindings(egenerator
  private/pybindings/*.cxx
  USE_PROJECTS icetray dataclasses egenerator
  USE_TOOLS boost python
)
# The bindings create numpy arrays through the numpy C API.
target_include_directories(egenerator-pybindings PRIVATE ${NUMPY_INCLUDE_DIR})

# pytest through the IceTray python, with the build's python dir and libraries on the paths
# (what env-shell.sh sets).
file(GLOB EGENERATOR_TEST_FILES ${CMAKE_CURRENT_SOURCE_DIR}/resources/test/test_*.py)
foreach(test_file ${EGENERATOR_TEST_FILES})
  get_filename_component(test_name ${test_file} NAME_WE)
  add_test(NAME egenerator::${test_name}
    COMMAND ${PYTHON_EXECUTABLE} -m pytest -q -p no:cacheprovider ${test_file}
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_property(TEST egenerator::${test_name} PROPERTY
    ENVIRONMENT "PYTHONPATH=${PYTHON_PLATLIB_DIR}:$ENV{PYTHONPATH};LD_LIBRARY_PATH=${CMAKE_BINARY_DIR}/lib:$ENV{LD_LIBRARY_PATH}")
endforeach()
