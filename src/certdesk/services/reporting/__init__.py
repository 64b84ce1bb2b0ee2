"""Reports and costs over the inventory and cases. Imports people and the ground floor."""
