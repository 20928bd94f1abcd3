"""Graph construction: Laplacians, video region graphs, edges. No nn.Module here."""
