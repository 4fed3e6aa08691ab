// The Boost.Graph form of a Topology: vertices are Topology::devices() (vertex i = device i),
// edges are Topology::links() in order. Include this only where a graph algorithm runs; it pulls
// in Boost.Graph, which is heavy to compile.
//
// Thread-safety: the graph of a built Topology is immutable.
#ifndef ACCELSCHED_TOPOLOGY_TOPOLOGY_GRAPH_H_
#define ACCELSCHED_TOPOLOGY_TOPOLOGY_GRAPH_H_

#include "boost/graph/adjacency_list.hpp"

#include "topology/topology.h"

namespace accelsched::topology {

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, Device, Link>;

namespace internal {
struct GraphHolder {
  Graph graph;
};
}  // namespace internal

inline const Graph& GraphOf(const Topology& topology) { return topology.graph().graph; }

}  // namespace accelsched::topology

#endif  // ACCELSCHED_TOPOLOGY_TOPOLOGY_GRAPH_H_
